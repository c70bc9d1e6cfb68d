package oidc

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// readClaims builds the Token from go-oidc's IDToken (iss, sub, aud) and
// from the one decoding of the verified payload that gives Claims.
//
// That decoding is strict (decodeObject): exact member names, duplicates
// refused at every level, nesting bounded. go-oidc reads its claims with
// encoding/json, which keeps the last of duplicate names and matches names
// case-insensitively (Unicode folding: "ſub" is sub); it exposes no map of
// the claims, and IDToken.Claims would decode once more the same way. A
// token whose issuer lets a user choose a claim's name could otherwise
// carry a second sub, or a Sub, that go-oidc reads and a map-reading
// consumer does not (THREATS.md OIDC-27). With duplicates refused here and
// names that fold to one of go-oidc's refused (checkNames), go-oidc's
// values and the map's are the same members. The strict decoder costs
// less than encoding/json into a map (BenchmarkDecodeObject), so
// strictness adds nothing to the one decoding a claims map needs.
func (v *Verifier) readClaims(idt *gooidc.IDToken, payload []byte) (*Token, error) {
	claims, err := decodeObject(payload)
	if err != nil {
		return nil, wrapErr(awsspec.ErrInvalidToken, err, "claims")
	}
	if err := checkNames(claims); err != nil {
		return nil, err
	}
	t := &Token{
		// go-oidc matched iss against this issuer (for Google alone it also
		// takes the scheme-less "accounts.google.com"); the configured
		// spelling keeps Subject and the STS condition keys stable.
		Issuer:   v.src.issuer,
		Subject:  idt.Subject,
		Audience: idt.Audience,
		Claims:   claims,
		idToken:  idt,
	}
	var present bool
	if t.Subject == "" {
		return nil, errorf(awsspec.ErrInvalidToken, "sub missing or empty")
	}
	if len(t.Audience) == 0 {
		return nil, errorf(awsspec.ErrInvalidToken, "aud missing or empty")
	}
	if t.AZP, present, err = stringClaim(claims, "azp"); err != nil || (present && t.AZP == "") {
		return nil, errorf(awsspec.ErrInvalidToken, "azp is not a non-empty string")
	}
	if t.AMR, _, err = stringListClaim(claims, "amr"); err != nil {
		return nil, wrapErr(awsspec.ErrInvalidToken, err, "")
	}
	// The time claims are read here rather than from go-oidc, which takes
	// strings holding numbers and fractions, and does not expose nbf.
	exp, present, err := numericDate(claims, "exp")
	if err != nil {
		return nil, wrapErr(awsspec.ErrInvalidToken, err, "")
	}
	if !present {
		return nil, errorf(awsspec.ErrInvalidToken, "exp missing")
	}
	t.Expiry = exp
	iat, present, err := numericDate(claims, "iat")
	if err != nil {
		return nil, wrapErr(awsspec.ErrInvalidToken, err, "")
	}
	if !present {
		return nil, errorf(awsspec.ErrInvalidToken, "iat missing")
	}
	t.IssuedAt = iat
	if t.notBefore, _, err = numericDate(claims, "nbf"); err != nil {
		return nil, wrapErr(awsspec.ErrInvalidToken, err, "")
	}
	if t.ClientID, err = v.audience(t.Audience, t.AZP); err != nil {
		return nil, err
	}
	normalizeNumbers(claims)
	return t, nil
}

// goOIDCClaims are the members go-oidc decodes into its IDToken.
var goOIDCClaims = [...]string{"iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "_claim_names", "_claim_sources"}

// checkNames refuses a member whose name differs from one go-oidc decodes
// only in case, as encoding/json folds it (strings.EqualFold is the same
// simple Unicode folding): go-oidc would read it for that claim.
func checkNames(claims map[string]any) error {
	for name := range claims {
		if !mayFold(name) {
			continue
		}
		for _, reg := range goOIDCClaims {
			if name != reg && strings.EqualFold(name, reg) {
				return errorf(awsspec.ErrInvalidToken, "claim %s differs from %s only in case", quote(name), reg)
			}
		}
	}
	return nil
}

// mayFold reports whether name has an upper-case ASCII letter or a
// non-ASCII byte. Without either, name folds to one of goOIDCClaims (all
// lower-case ASCII) only by being equal to it, so the common name needs
// no EqualFold.
func mayFold(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return true
		}
	}
	return false
}

// audience is the audience rule (OIDC Core 3.1.3.7 steps 3 to 5): aud
// must name an accepted client ID; with several audiences azp must be
// present and accepted; with azpIsClient an azp, when present, must be
// accepted. It returns the client ID the token is accepted for: azp when
// it is accepted, otherwise the first accepted audience.
func (v *Verifier) audience(aud []string, azp string) (string, error) {
	i := slices.IndexFunc(aud, v.acceptsClient)
	if i < 0 {
		return "", errorf(awsspec.ErrAudience, "audience %s not accepted", quote(strings.Join(aud, ",")))
	}
	if len(aud) > 1 && azp == "" {
		return "", errorf(awsspec.ErrAudience, "several audiences and no azp")
	}
	if azp != "" && v.acceptsClient(azp) {
		return azp, nil
	}
	if azp != "" && (len(aud) > 1 || v.azpIsClient) {
		return "", errorf(awsspec.ErrAudience, "azp %s not accepted", quote(azp))
	}
	return aud[i], nil
}

// checkTimes checks the time claims with the configured skew (go-oidc's
// own check is off): exp first, so that an expired token is
// ErrTokenExpired whatever else is wrong with its times, then nbf and iat
// not in the future, and the lifetime and age limits.
//
// An expired token's error holds go-oidc's TokenExpiredError, as it would
// if go-oidc had refused it.
func (v *Verifier) checkTimes(t *Token) error {
	now := v.now()
	if !now.Before(t.Expiry.Add(v.skew)) {
		return wrapErr(&awsspec.TokenExpiredError{Expiry: t.Expiry}, &gooidc.TokenExpiredError{Expiry: t.Expiry}, "")
	}
	if !t.notBefore.IsZero() && now.Add(v.skew).Before(t.notBefore) {
		return errorf(awsspec.ErrInvalidToken, "not valid before %s", t.notBefore.Format(time.RFC3339))
	}
	if now.Add(v.skew).Before(t.IssuedAt) {
		return errorf(awsspec.ErrInvalidToken, "issued in the future (%s)", t.IssuedAt.Format(time.RFC3339))
	}
	if t.Expiry.Before(t.IssuedAt) {
		return errorf(awsspec.ErrInvalidToken, "exp before iat")
	}
	if v.maxLife > 0 && t.Expiry.Sub(t.IssuedAt) > v.maxLife {
		return errorf(awsspec.ErrInvalidToken, "lifetime %s exceeds %s", t.Expiry.Sub(t.IssuedAt), v.maxLife)
	}
	if v.maxAge > 0 && now.Sub(t.IssuedAt) > v.maxAge+v.skew {
		return errorf(awsspec.ErrInvalidToken, "issued too long ago (%s)", t.IssuedAt.Format(time.RFC3339))
	}
	return nil
}

// normalizeNumbers replaces json.Number values by float64 (what
// encoding/json would produce), in place, so Claims looks like an ordinary
// decoded JSON object to consumers.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return t.String()
		}
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeNumbers(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = normalizeNumbers(e)
		}
		return t
	default:
		return v
	}
}

// maxNumericDate is 9999-12-31T23:59:59Z: later values are rejected as
// nonsense rather than overflowing time arithmetic.
const maxNumericDate = 253402300799

// numericDate reads a NumericDate claim. present is false when the claim
// is absent. The value must be a JSON integer (no fraction, no exponent)
// between 0 and year 9999.
func numericDate(claims map[string]any, name string) (t time.Time, present bool, err error) {
	raw, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := raw.(json.Number)
	if !ok {
		return time.Time{}, true, fmt.Errorf("claim %s is not a number", name)
	}
	s := n.String()
	if strings.ContainsAny(s, ".eE") {
		return time.Time{}, true, fmt.Errorf("claim %s is not an integer", name)
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || i < 0 || i > maxNumericDate {
		return time.Time{}, true, fmt.Errorf("claim %s is out of range", name)
	}
	return time.Unix(i, 0).UTC(), true, nil
}

// stringClaim returns a string claim; present but non-string is an error.
func stringClaim(claims map[string]any, name string) (string, bool, error) {
	raw, ok := claims[name]
	if !ok {
		return "", false, nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", true, fmt.Errorf("claim %s is not a string", name)
	}
	return s, true, nil
}

// stringListClaim reads a claim that may be one string or a list of
// strings. Any non-string element is an error.
func stringListClaim(claims map[string]any, name string) ([]string, bool, error) {
	raw, ok := claims[name]
	if !ok {
		return nil, false, nil
	}
	switch t := raw.(type) {
	case string:
		return []string{t}, true, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, true, fmt.Errorf("claim %s has a non-string element", name)
			}
			out = append(out, s)
		}
		return out, true, nil
	default:
		return nil, true, fmt.Errorf("claim %s is neither a string nor a list of strings", name)
	}
}
