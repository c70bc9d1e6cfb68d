package ldap

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/ldapauth"
	"github.com/idbroker/idbroker/ldapauth/ldaptest"
	"github.com/idbroker/idbroker/providers"
)

// FindAccount hands the broker one account key for every name of an
// account (and none for an unknown user), and LoginAccount answers on it as
// Login does, with the canonical username.
func TestFindAndLoginAccount(t *testing.T) {
	s := ldaptest.Get(t, srv)
	doc := strings.Replace(blockYAML(s), "(&(objectClass=inetOrgPerson)(uid={username}))", "(|(uid={username})(mail={username}))", 1)
	p, err := New("corp", decode(t, doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	alice := ldapauth.AccountKey(ldaptest.Alice.DN())
	for _, tc := range []struct {
		name, user, pass string
		wantKey          string
		wantErr          error
	}{
		{"uid", "alice", ldaptest.Alice.Password, alice, nil},
		{"mail", "alice@example.org", ldaptest.Alice.Password, alice, nil},
		{"mail, wrong password", "alice@example.org", "wrong", alice, providers.ErrInvalidCredentials},
		{"mail, empty password", "alice@example.org", "", alice, providers.ErrInvalidCredentials},
		{"unknown", "nobody@example.org", ldaptest.Alice.Password, "", providers.ErrInvalidCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acct, err := p.FindAccount(context.Background(), tc.user)
			if err != nil || acct.Key != tc.wantKey {
				t.Fatalf("FindAccount = %q, %v; want %q", acct.Key, err, tc.wantKey)
			}
			id, err := p.LoginAccount(context.Background(), acct, tc.pass)
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if errors.Is(err, providers.ErrUnavailable) {
				t.Fatalf("refusal reads unlike a wrong password: %v", err)
			}
			if err == nil && (id.Username != "alice" || id.Provider != "corp") {
				t.Errorf("identity %+v", id)
			}
		})
	}
	// An impossible username is refused at the look-up.
	if _, err := p.FindAccount(context.Background(), "al\x00ice"); !errors.Is(err, providers.ErrInvalidCredentials) {
		t.Errorf("impossible username: %v", err)
	}
	// An account the provider did not find is refused, never bound.
	if _, err := p.LoginAccount(context.Background(), providers.Account{Key: alice, Ref: "uid=alice"}, ldaptest.Alice.Password); err == nil ||
		errors.Is(err, providers.ErrInvalidCredentials) || errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("made-up account: %v", err)
	}
}
