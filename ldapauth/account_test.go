package ldapauth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// uidOrMail is a user filter that gives one account two names.
const uidOrMail = "(&(objectClass=inetOrgPerson)(|(uid={username})(mail={username})))"

// Every name the filter accepts for one entry finds the same account key
// (so that a caller can count failures per account), an unknown name finds
// an account with no key, and an impossible username is refused before any
// search. AuthenticateAccount then answers as Authenticate does.
func TestFindAccountKey(t *testing.T) {
	cfg := baseConfig(t)
	cfg.UserSearch.Filter = uidOrMail
	c, _ := newClient(t, cfg)
	aliceKey := "uid=alice,ou=people,dc=example,dc=org"
	tests := []struct {
		name, user, pass string
		wantFindErr      bool
		wantKey          string
		wantErr          error
	}{
		{"uid", "alice", ldaptest.Alice.Password, false, aliceKey, nil},
		{"mail", "alice@example.org", ldaptest.Alice.Password, false, aliceKey, nil},
		{"mail, other case, wrong password", "Alice@Example.ORG", "wrong", false, aliceKey, ErrInvalidCredentials},
		{"uid, upper case, wrong password", "ALICE", "wrong", false, aliceKey, ErrInvalidCredentials},
		{"special characters", ldaptest.Special.UID, ldaptest.Special.Password, false, AccountKey(ldaptest.Special.DN()), nil},
		{"non-ASCII", ldaptest.Jurgen.Mail, ldaptest.Jurgen.Password, false, AccountKey(ldaptest.Jurgen.DN()), nil},
		{"unknown", "nobody@example.org", "wrong", false, "", ErrInvalidCredentials},
		{"unknown, a password that is someone's", "nobody@example.org", ldaptest.Alice.Password, false, "", ErrInvalidCredentials},
		{"empty password", "alice", "", false, aliceKey, ErrInvalidCredentials},
		{"impossible username", "al\x00ice", "wrong", true, "", ErrInvalidCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acct, err := c.FindAccount(context.Background(), tc.user)
			if tc.wantFindErr {
				if !errors.Is(err, ErrInvalidCredentials) || acct.Key() != "" {
					t.Fatalf("FindAccount = %q, %v; want ErrInvalidCredentials", acct.Key(), err)
				}
				return
			}
			if err != nil || acct.Key() != tc.wantKey {
				t.Fatalf("FindAccount = %q, %v; want %q", acct.Key(), err, tc.wantKey)
			}
			res, err := c.AuthenticateAccount(context.Background(), acct, tc.pass)
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if res != nil && AccountKey(res.RawDN) != tc.wantKey {
				t.Errorf("account key %q is not the result's DN %q", tc.wantKey, res.RawDN)
			}
		})
	}
	// Authenticate, the two steps in a row, agrees.
	if _, err := c.Authenticate(context.Background(), "alice@example.org", ldaptest.Alice.Password); err != nil {
		t.Fatal(err)
	}
}

// An account is used only by the client that found it: another client's
// account, or one made up, is refused as a wiring error without a bind.
func TestAuthenticateAccountOfAnotherClient(t *testing.T) {
	cfg := baseConfig(t)
	c, _ := newClient(t, cfg)
	other, _ := newClient(t, cfg)
	acct, err := other.FindAccount(context.Background(), "alice")
	if err != nil || acct.Key() == "" {
		t.Fatalf("FindAccount: %q %v", acct.Key(), err)
	}
	for name, a := range map[string]Account{"another client's": acct, "made up": {}} {
		_, err := c.AuthenticateAccount(context.Background(), a, ldaptest.Alice.Password)
		if !errors.Is(err, ErrConfiguration) || errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%s account: err = %v, want ErrConfiguration", name, err)
		}
		if strings.Contains(err.Error(), ldaptest.Alice.Password) {
			t.Errorf("%s account: the error carries the password", name)
		}
	}
}

// On the wire a found account gets the user's bind, an unknown one the
// dummy bind (the same work as a wrong password: service bind, search, one
// more bind, service bind again), an empty password no bind at all, and an
// account past its login's deadline no bind either: the two steps are
// bounded by one LoginTimeout.
func TestAuthenticateAccountOnTheWire(t *testing.T) {
	const userDN = "uid=alice,dc=example,dc=org"
	for _, tc := range []struct {
		name      string
		found     bool
		pass      string
		stale     bool
		wantErr   error
		wantBinds []string // after the service bind and the search; "dummy" is the dummy DN
	}{
		{"found", true, "pw", false, ErrInvalidCredentials, []string{userDN, "service"}},
		{"unknown", false, "pw", false, ErrInvalidCredentials, []string{"dummy", "service"}},
		{"empty password", true, "", false, ErrInvalidCredentials, nil},
		{"past the login's deadline", true, "pw", true, ErrUnavailable, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var binds []string
			f := &fakeServer{handle: func(id int64, op ber.Tag, req *ber.Packet) []*ber.Packet {
				switch op {
				case opBindRequest:
					dn := req.Children[1].Data.String()
					mu.Lock()
					binds = append(binds, dn)
					mu.Unlock()
					if dn == "cn=reader,dc=example,dc=org" {
						return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 0, ""))}
					}
					return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 49, ""))}
				case opSearchRequest:
					out := []*ber.Packet{}
					if tc.found {
						e := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "entry")
						e.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, userDN, "dn"))
						e.AppendChild(ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attrs"))
						out = append(out, envelope(id, e))
					}
					return append(out, envelope(id, ldapResult(opSearchResultDone, 0, "")))
				}
				return nil
			}}
			cfg := faultConfig(startFake(t, f))
			if tc.stale {
				cfg.LoginTimeout = 100 * time.Millisecond
			}
			c, _ := newClient(t, cfg)
			acct, err := c.FindAccount(context.Background(), "alice")
			if err != nil || (acct.Key() != "") != tc.found {
				t.Fatalf("FindAccount: %q %v", acct.Key(), err)
			}
			for tc.stale && time.Now().Before(acct.deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			binds = nil // the service bind before the search
			mu.Unlock()
			_, err = c.AuthenticateAccount(context.Background(), acct, tc.pass)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			var got []string
			for _, dn := range binds {
				switch dn {
				case "cn=reader,dc=example,dc=org":
					dn = "service"
				case c.dummyDN:
					dn = "dummy"
				}
				got = append(got, dn)
			}
			if strings.Join(got, " | ") != strings.Join(tc.wantBinds, " | ") {
				t.Fatalf("binds %q, want %q", got, tc.wantBinds)
			}
		})
	}
}
