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

// LoginGuarded hands the broker one account key for every name of an
// account, and a refusing hook gets the wrong-password answer even for the
// right password.
func TestLoginGuarded(t *testing.T) {
	s := ldaptest.Get(t, srv)
	doc := strings.Replace(blockYAML(s), "(&(objectClass=inetOrgPerson)(uid={username}))", "(|(uid={username})(mail={username}))", 1)
	p, err := New("corp", decode(t, doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	want := ldapauth.AccountKey(ldaptest.Alice.DN())
	locked := errors.New("locked")
	for _, tc := range []struct {
		name, user, pass string
		refuse           bool
		wantErr          error
	}{
		{"uid", "alice", ldaptest.Alice.Password, false, nil},
		{"mail", "alice@example.org", ldaptest.Alice.Password, false, nil},
		{"mail, wrong password", "alice@example.org", "wrong", false, providers.ErrInvalidCredentials},
		{"uid, refused", "alice", ldaptest.Alice.Password, true, providers.ErrInvalidCredentials},
		{"mail, refused", "alice@example.org", ldaptest.Alice.Password, true, providers.ErrInvalidCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			id, err := p.LoginGuarded(context.Background(), tc.user, tc.pass, func(_ context.Context, account string) error {
				got = append(got, account)
				if tc.refuse {
					return locked
				}
				return nil
			})
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if errors.Is(err, providers.ErrUnavailable) || errors.Is(err, locked) {
				t.Fatalf("refusal reads unlike a wrong password: %v", err)
			}
			if len(got) != 1 || got[0] != want {
				t.Fatalf("hook saw %q, want [%q]", got, want)
			}
			if err == nil && id.Username != "alice" {
				t.Errorf("username %q", id.Username)
			}
		})
	}
}
