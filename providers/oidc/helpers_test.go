package oidc_test

import (
	"crypto"
	"encoding/json"
)

type crypto_PublicKey = crypto.PublicKey //nolint:revive // short alias for tables

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
