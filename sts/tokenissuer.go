package sts

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// tokenIssuer reads the iss claim of a compact JWS without verifying it.
// It is the one read of a web identity token before its verifier's: the
// STS trusts several issuers, each with its own verifier (its keys, its
// client IDs), and iss says which one to ask — as step-ca's LoadByToken
// picks a provisioner. Nothing read here is trusted: the chosen verifier
// checks the signature and that iss is its own issuer, so a forged iss
// only picks a verifier that refuses the token.
//
// The caller has already capped the token's length (maxWebTokenLen). The
// payload is decoded once with encoding/json into a struct holding only
// iss, as go-oidc decodes it (the last of duplicate members, names matched
// case-insensitively), so the routing and the verification read the same
// iss.
func tokenIssuer(tok string) (string, error) {
	_, rest, ok := strings.Cut(tok, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") {
		return "", errors.New("not three segments")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return "", errors.New("payload is not base64url")
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return "", errors.New("payload is not a JSON object with a string iss")
	}
	if claims.Iss == "" {
		return "", errors.New("no iss")
	}
	return claims.Iss, nil
}
