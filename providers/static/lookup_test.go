package static

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// Lookup returns what Login returns (bar the login time), without a
// password; unknown or near-miss names are "no such user".
func TestLookup(t *testing.T) {
	p, err := New("demo", Config{Users: []User{
		{Username: "alice", PasswordHash: hash(t, "alice-pw"), Email: "alice@example.org", DisplayName: "Alice",
			Groups: []string{"developers", "posix"}, Attributes: map[string][]string{"department": {"eng"}}, MFA: true},
		{Username: "bob", PasswordHash: hash(t, "bob-pw")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct{ user, pass string }{{"alice", "alice-pw"}, {"bob", "bob-pw"}} {
		t.Run(tc.user, func(t *testing.T) {
			got, err := p.Lookup(ctx, tc.user)
			if err != nil {
				t.Fatal(err)
			}
			want, err := p.Login(ctx, tc.user, tc.pass)
			if err != nil {
				t.Fatal(err)
			}
			if got.AuthTime.IsZero() || time.Since(got.AuthTime) > time.Minute {
				t.Errorf("auth time %v", got.AuthTime)
			}
			got.AuthTime, want.AuthTime, got.MFATime, want.MFATime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Lookup = %+v\nLogin  = %+v", got, want)
			}
			if got.Provider != "demo" || got.Subject != tc.user || got.Username != tc.user {
				t.Errorf("identity = %+v", got)
			}
		})
	}
	alice, _ := p.Lookup(ctx, "alice")
	if !alice.MFA || !alice.EmailVerified || alice.Attributes["department"][0] != "eng" || len(alice.Groups) != 2 {
		t.Errorf("alice = %+v", alice)
	}
	// The identity is a copy: changing it does not change the provider.
	alice.Groups[0] = "admins"
	alice.Attributes["department"][0] = "ops"
	if again, _ := p.Lookup(ctx, "alice"); again.Groups[0] != "developers" || again.Attributes["department"][0] != "eng" {
		t.Errorf("provider state changed through a returned identity: %+v", again)
	}

	for _, user := range []string{"mallory", "", "ALICE", "alice ", "alice\x00", "*", strings.Repeat("a", 5000)} {
		_, err := p.Lookup(ctx, user)
		if !errors.Is(err, providers.ErrInvalidCredentials) || !strings.Contains(err.Error(), "no such user") {
			t.Errorf("Lookup(%q) = %v, want no such user (ErrInvalidCredentials)", user, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Lookup(cancelled, "alice"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
