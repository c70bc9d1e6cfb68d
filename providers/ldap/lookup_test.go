package ldap

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
	"github.com/idbroker/idbroker/providers"
)

// Lookup builds the identity exactly as Login does, from the same
// directory entry, without the user's password.
func TestLookup(t *testing.T) {
	s := ldaptest.Get(t, srv)
	var logs bytes.Buffer
	p, err := New("corp", decode(t, blockYAML(s)), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	var _ providers.Lookuper = p
	ctx := context.Background()
	for _, u := range []ldaptest.User{ldaptest.Alice, ldaptest.Bob, ldaptest.Carol, ldaptest.Special} {
		t.Run(u.UID, func(t *testing.T) {
			got, err := p.Lookup(ctx, u.UID)
			if err != nil {
				t.Fatal(err)
			}
			want, err := p.Login(ctx, u.UID, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			got.AuthTime, want.AuthTime = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Lookup = %+v\nLogin  = %+v", got, want)
			}
			if got.Provider != "corp" || got.Username != u.UID || len(got.Subject) != 36 || len(got.Groups) == 0 {
				t.Errorf("identity = %+v", got)
			}
		})
	}
	for _, user := range []string{"nobody", "*", ")(uid=*", "admin)(|(uid=*"} {
		if _, err := p.Lookup(ctx, user); !errors.Is(err, providers.ErrInvalidCredentials) || !strings.Contains(err.Error(), "no such user") {
			t.Errorf("Lookup(%q) = %v, want no such user", user, err)
		}
	}
	// Searching the whole tree finds twin in people and in contractors.
	wide := decode(t, blockYAML(s))
	wide.UserSearch.BaseDN = ldaptest.BaseDN
	pw, err := New("wide", wide, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pw.Close() })
	if _, err := pw.Lookup(ctx, ldaptest.Twin.UID); !errors.Is(err, providers.ErrConfiguration) {
		t.Errorf("two entries: %v, want ErrConfiguration", err)
	}
	if strings.Contains(logs.String(), "CANARY") {
		t.Errorf("secret in logs: %s", logs.String())
	}
}
