package ldapauth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// uidOrMail is a user filter that gives one account two names.
const uidOrMail = "(&(objectClass=inetOrgPerson)(|(uid={username})(mail={username})))"

// Every name the filter accepts for one entry reports the same account key
// to the hook (so that a caller can count failures per account), an unknown
// name reports "", and an impossible username never reaches the hook.
func TestAuthenticateGuardedAccountKey(t *testing.T) {
	cfg := baseConfig(t)
	cfg.UserSearch.Filter = uidOrMail
	c, _ := newClient(t, cfg)
	aliceKey := "uid=alice,ou=people,dc=example,dc=org"
	tests := []struct {
		name, user, pass string
		wantCalled       bool
		wantAccount      string
		wantErr          error
	}{
		{"uid", "alice", ldaptest.Alice.Password, true, aliceKey, nil},
		{"mail", "alice@example.org", ldaptest.Alice.Password, true, aliceKey, nil},
		{"mail, other case, wrong password", "Alice@Example.ORG", "wrong", true, aliceKey, ErrInvalidCredentials},
		{"uid, upper case, wrong password", "ALICE", "wrong", true, aliceKey, ErrInvalidCredentials},
		{"special characters", ldaptest.Special.UID, ldaptest.Special.Password, true, AccountKey(ldaptest.Special.DN()), nil},
		{"non-ASCII", ldaptest.Jurgen.Mail, ldaptest.Jurgen.Password, true, AccountKey(ldaptest.Jurgen.DN()), nil},
		{"unknown", "nobody@example.org", "wrong", true, "", ErrInvalidCredentials},
		{"impossible username", "al\x00ice", "wrong", false, "", ErrInvalidCredentials},
		{"empty password", "alice", "", false, "", ErrInvalidCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			res, err := c.AuthenticateGuarded(context.Background(), tc.user, tc.pass, func(_ context.Context, account string) error {
				calls = append(calls, account)
				return nil
			})
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if errors.Is(err, ErrRefusedBeforeBind) {
				t.Fatalf("refused before bind although the hook allowed: %v", err)
			}
			if !tc.wantCalled {
				if len(calls) != 0 {
					t.Fatalf("hook called with %q", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0] != tc.wantAccount {
				t.Fatalf("hook calls %q, want one with %q", calls, tc.wantAccount)
			}
			if res != nil && AccountKey(res.RawDN) != tc.wantAccount {
				t.Errorf("account key %q is not the result's DN %q", tc.wantAccount, res.RawDN)
			}
		})
	}
}

// A refusing hook stops the attempt before the password is tried: the
// right password gets the wrong-password answer.
func TestAuthenticateGuardedRefusal(t *testing.T) {
	cfg := baseConfig(t)
	cfg.UserSearch.Filter = uidOrMail
	c, _ := newClient(t, cfg)
	locked := errors.New("locked")
	for _, user := range []string{"alice", "alice@example.org", "nobody"} {
		_, err := c.AuthenticateGuarded(context.Background(), user, ldaptest.Alice.Password, func(context.Context, string) error { return locked })
		if !errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, ErrRefusedBeforeBind) {
			t.Fatalf("%s: err = %v", user, err)
		}
		if errors.Is(err, locked) || strings.Contains(err.Error(), "uid=") {
			t.Fatalf("%s: the refusal carries the hook's reason or the DN: %v", user, err)
		}
	}
	// Authenticate without a hook still works.
	if _, err := c.Authenticate(context.Background(), "alice@example.org", ldaptest.Alice.Password); err != nil {
		t.Fatal(err)
	}
}

// On the wire, a refused attempt does what a wrong password does (service
// bind, search, one more bind, service bind again), but that bind is the
// dummy one: the user's DN is never bound with the offered password.
func TestAuthenticateGuardedRefusalOnTheWire(t *testing.T) {
	const userDN = "uid=alice,dc=example,dc=org"
	for _, tc := range []struct {
		name       string
		refuse     bool
		wantUserDN bool
	}{
		{"allowed", false, true},
		{"refused", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var bindDNs []string
			f := &fakeServer{handle: func(id int64, op ber.Tag, req *ber.Packet) []*ber.Packet {
				switch op {
				case opBindRequest:
					dn := req.Children[1].Data.String()
					mu.Lock()
					bindDNs = append(bindDNs, dn)
					mu.Unlock()
					if dn == "cn=reader,dc=example,dc=org" {
						return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 0, ""))}
					}
					return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 49, ""))}
				case opSearchRequest:
					e := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "entry")
					e.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, userDN, "dn"))
					e.AppendChild(ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attrs"))
					return []*ber.Packet{envelope(id, e), envelope(id, ldapResult(opSearchResultDone, 0, ""))}
				}
				return nil
			}}
			c, _ := newClient(t, faultConfig(startFake(t, f)))
			_, err := c.AuthenticateGuarded(context.Background(), "alice", "pw", func(_ context.Context, account string) error {
				if account != userDN {
					t.Errorf("account %q", account)
				}
				if tc.refuse {
					return errors.New("locked")
				}
				return nil
			})
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("err = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(bindDNs) != 3 {
				t.Fatalf("binds %q, want service, user or dummy, service", bindDNs)
			}
			if got := bindDNs[1] == userDN; got != tc.wantUserDN {
				t.Fatalf("second bind as %q; user DN bound: %v, want %v", bindDNs[1], got, tc.wantUserDN)
			}
		})
	}
}
