package sts

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSigningKeyCacheIsBounded(t *testing.T) {
	var c signingKeyCache
	for i := range maxSigningKeys + 100 {
		c.put(newSigningKeyID(fmt.Sprintf("secret-%d", i), "20260101", "us-east-1"), []byte{byte(i)})
	}
	if n := c.len(); n != maxSigningKeys {
		t.Fatalf("cache holds %d keys, want the bound %d", n, maxSigningKeys)
	}
	n := maxSigningKeys + 99
	last := newSigningKeyID(fmt.Sprintf("secret-%d", n), "20260101", "us-east-1")
	if k, ok := c.get(last); !ok || k[0] != byte(n) {
		t.Fatalf("the newest key was evicted or changed: %v %v", k, ok)
	}
}

func TestSigningKeyIDSeparatesScopes(t *testing.T) {
	base := newSigningKeyID("secret", "20260101", "us-east-1")
	for name, other := range map[string]signingKeyID{
		"secret": newSigningKeyID("secret2", "20260101", "us-east-1"),
		"date":   newSigningKeyID("secret", "20260102", "us-east-1"),
		"region": newSigningKeyID("secret", "20260101", "eu-west-1"),
	} {
		if other == base {
			t.Errorf("a different %s gives the same cache key", name)
		}
	}
}

// TestAuthenticateSigningKeyCache checks that the cache only learns keys
// that verified a signature, and that a cached key changes no answer.
func TestAuthenticateSigningKeyCache(t *testing.T) {
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := testService(t, kr, func() time.Time { return now })
	alice, bob := mintFor(t, s, time.Hour), mintFor(t, s, time.Hour)

	forged := alice
	forged.SecretAccessKey = strings.Repeat("x", 40)
	tests := []struct {
		name     string
		creds    Credentials
		at       time.Time
		wantCode string // "" = accepted
		wantLen  int    // cache size after the call
	}{
		{"wrong secret is refused and not cached", forged, now, "SignatureDoesNotMatch", 0},
		{"good signature is accepted and cached", alice, now, "", 1},
		{"cached key accepts again", alice, now, "", 1},
		{"wrong secret still refused with alice's key cached", forged, now, "SignatureDoesNotMatch", 1},
		{"another credential gets its own entry", bob, now, "", 2},
		{"another day gets its own entry", alice, now.Add(-24 * time.Hour), "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, body := signedCallerIdentity(t, tt.creds, tt.at)
			if tt.at != now {
				// Only the scope date differs: keep the request inside the skew window.
				s.now = func() time.Time { return tt.at }
				defer func() { s.now = func() time.Time { return now } }()
			}
			sess, err := s.Authenticate(req, body)
			switch {
			case tt.wantCode == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantCode == "" && sess.AccessKeyID != tt.creds.AccessKeyID:
				t.Fatalf("session of %s, want %s", sess.AccessKeyID, tt.creds.AccessKeyID)
			case tt.wantCode != "":
				e, ok := err.(*Error)
				if !ok || e.Code != tt.wantCode {
					t.Fatalf("got %v, want %s", err, tt.wantCode)
				}
			}
			if n := s.sigKeys.len(); n != tt.wantLen {
				t.Fatalf("cache holds %d keys, want %d", n, tt.wantLen)
			}
		})
	}
}
