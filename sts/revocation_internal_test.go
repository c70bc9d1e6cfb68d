package sts

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// checkerFunc is a RevocationChecker whose rule the test swaps.
type checkerFunc struct {
	rule atomic.Pointer[func(RevocationSubject) bool]
}

func (c *checkerFunc) Revoked(s RevocationSubject) bool {
	if f := c.rule.Load(); f != nil {
		return (*f)(s)
	}
	return false
}

func (c *checkerFunc) set(f func(RevocationSubject) bool) { c.rule.Store(&f) }

func revocationService(t *testing.T, now func() time.Time, chk RevocationChecker, logs *bytes.Buffer) *Service {
	t.Helper()
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{AccountID: "123456789012", Keys: kr, Now: now, Revocations: chk,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Roles:  []RoleConfig{{Name: "r", TrustPolicy: []byte(trustAnyOIDC)}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRevokedAfterSigningKeyCacheHit: the SigV4 signing-key cache does not
// let revoked credentials through: a request whose key comes from the
// cache is refused once the credentials are revoked.
func TestRevokedAfterSigningKeyCacheHit(t *testing.T) {
	now := time.Now()
	chk := &checkerFunc{}
	var logs bytes.Buffer
	s := revocationService(t, func() time.Time { return now }, chk, &logs)
	c := mintFor(t, s, time.Hour)
	for i := range 2 {
		req, body := signedCallerIdentity(t, c, now)
		if _, err := s.Authenticate(req, body); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if s.sigKeys.len() != 1 {
		t.Fatalf("signing key not cached (%d)", s.sigKeys.len())
	}
	chk.set(func(r RevocationSubject) bool { return r.AccessKeyID == c.AccessKeyID })
	req, body := signedCallerIdentity(t, c, now)
	_, err := s.Authenticate(req, body)
	if e, ok := err.(*Error); !ok || e.Code != "InvalidClientTokenId" || e.Status != http.StatusForbidden || e.Message != msgInvalidClientToken {
		t.Fatalf("cached key of revoked credentials: %v", err)
	}
	if s.sigKeys.len() != 1 {
		t.Fatalf("cache changed: %d", s.sigKeys.len())
	}
	// Audited outside the Query API too, without a secret.
	out := logs.String()
	if !strings.Contains(out, `"reason":"credentials revoked"`) || !strings.Contains(out, `"action":"Authenticate"`) ||
		strings.Contains(out, c.SecretAccessKey) || strings.Contains(out, c.SessionToken) {
		t.Errorf("audit log %s", out)
	}
}

// TestRevocationAfterSignature: revocation is decided only for a valid
// signature, so a holder of the token without the secret learns nothing
// about it (the signature refusal comes first).
func TestRevocationAfterSignature(t *testing.T) {
	now := time.Now()
	chk := &checkerFunc{}
	s := revocationService(t, func() time.Time { return now }, chk, &bytes.Buffer{})
	c := mintFor(t, s, time.Hour)
	chk.set(func(RevocationSubject) bool { return true })
	forged := c
	forged.SecretAccessKey = strings.Repeat("x", 40)
	req, body := signedCallerIdentity(t, forged, now)
	if _, err := s.Authenticate(req, body); err == nil || err.(*Error).Code != "SignatureDoesNotMatch" {
		t.Fatalf("forged signature on revoked credentials: %v", err)
	}
}

// TestPreviousTokenVersionsStillRevocable: a version 2 token (sealed before
// the upgrade) still authenticates, with no session id or ancestry, and a
// revocation of its role or key reaches it.
func TestPreviousTokenVersionsStillRevocable(t *testing.T) {
	now := time.Now()
	chk := &checkerFunc{}
	s := revocationService(t, func() time.Time { return now }, chk, &bytes.Buffer{})
	rk := s.keys.sealingKey()
	akid, err := newAccessKeyID()
	if err != nil {
		t.Fatal(err)
	}
	claims := &tokenClaims{AccessKeyID: akid, Account: "123456789012", RoleARN: "arn:aws:iam::123456789012:role/r",
		RoleID: roleID("123456789012", "arn:aws:iam::123456789012:role/r"), SessionName: "old",
		IssuedAt: now.Add(-time.Minute).Unix(), Expiry: now.Add(time.Hour).Unix()}
	tok, err := rk.sealV2(claims)
	if err != nil {
		t.Fatal(err)
	}
	c := Credentials{AccessKeyID: akid, SecretAccessKey: rk.deriveSecret(akid), SessionToken: tok}
	var asked RevocationSubject
	chk.set(func(r RevocationSubject) bool { asked = r; return false })
	req, body := signedCallerIdentity(t, c, now)
	if _, err := s.Authenticate(req, body); err != nil {
		t.Fatal(err)
	}
	if asked.AccessKeyID != akid || asked.SessionID != "" || asked.ParentAccessKeyIDs != nil || asked.IssuedAt.Unix() != claims.IssuedAt {
		t.Fatalf("asked %+v", asked)
	}
	chk.set(func(r RevocationSubject) bool { return r.RoleARN == claims.RoleARN && r.IssuedAt.Before(now) })
	req, body = signedCallerIdentity(t, c, now)
	if _, err := s.Authenticate(req, body); err == nil || err.(*Error).Code != "InvalidClientTokenId" {
		t.Fatalf("version 2 token of a revoked role: %v", err)
	}
}
