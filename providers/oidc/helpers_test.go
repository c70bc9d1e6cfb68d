package oidc_test

import (
	"crypto"
	"encoding/json"
	"net/url"
)

type crypto_PublicKey = crypto.PublicKey //nolint:revive // short alias for tables

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func mustQuery(t interface{ Fatalf(string, ...any) }, raw string) url.Values {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return u.Query()
}
