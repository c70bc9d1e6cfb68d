package ldap

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
	"github.com/idbroker/idbroker/providers"
)

// Refresh re-reads a login's user with the service account against a real
// slapd that an administrator changes with ldapmodify: a removed group
// membership is gone from the identity; a deleted, replaced, locked or
// disabled account is ErrAccountGone; a stopped directory is
// ErrUnavailable, never ErrAccountGone.
func TestRefresh(t *testing.T) {
	s := ldaptest.StartWith(t, ldaptest.Options{PasswordPolicy: true})
	var logs bytes.Buffer
	p, err := New("corp", decode(t, blockYAML(s)), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	var _ providers.Refresher = p
	ctx := context.Background()
	login := func(u ldaptest.User) providers.Identity {
		t.Helper()
		id, err := p.Login(ctx, u.UID, u.Password)
		if err != nil {
			t.Fatalf("login %s: %v", u.UID, err)
		}
		return id
	}
	alice, bob, carol, admin, jurgen := login(ldaptest.Alice), login(ldaptest.Bob), login(ldaptest.Carol), login(ldaptest.Admin), login(ldaptest.Jurgen)
	alice.MFA, alice.MFATime, alice.Expiry = true, time.Unix(1700000000, 0), time.Unix(1800000000, 0)

	t.Run("unchanged", func(t *testing.T) {
		got, err := p.Refresh(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, alice) {
			t.Errorf("Refresh = %+v\nlogin   = %+v", got, alice)
		}
	})

	t.Run("group removed", func(t *testing.T) {
		devDN := strings.ToLower(ldaptest.GroupDN(ldaptest.GroupDevelopers))
		if !slices.Contains(alice.Groups, "developers") || !slices.Contains(alice.Groups, devDN) {
			t.Fatalf("alice's login groups %q lack developers", alice.Groups)
		}
		if err := s.RemoveMember(ldaptest.GroupDN(ldaptest.GroupDevelopers), ldaptest.Alice.DN()); err != nil {
			t.Fatal(err)
		}
		got, err := p.Refresh(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got.Groups, "developers") || slices.Contains(got.Groups, devDN) {
			t.Errorf("groups after removal = %q, still developers", got.Groups)
		}
		if !slices.Contains(got.Groups, "posixdev") {
			t.Errorf("groups after removal = %q, lost posixdev too", got.Groups)
		}
		// The login's own facts stay.
		if got.Subject != alice.Subject || !got.AuthTime.Equal(alice.AuthTime) || !got.MFA || !got.MFATime.Equal(alice.MFATime) ||
			!got.Expiry.Equal(alice.Expiry) || !bytes.Equal(got.Upstream, alice.Upstream) {
			t.Errorf("Refresh = %+v\nlogin   = %+v", got, alice)
		}
	})

	gone := []struct {
		name   string
		id     providers.Identity
		change func() error
		reason string
	}{
		{"deleted", jurgen, func() error { return s.Delete(ldaptest.Jurgen.DN()) }, "no entry"},
		{"locked by password policy", bob, func() error { return s.Lock(ldaptest.Bob.DN()) }, "pwdAccountLockedTime"},
		{"disabled as in Active Directory", carol, func() error { return s.Disable(ldaptest.Carol.DN()) }, "ACCOUNTDISABLE"},
		{"deleted, name given to another entry", admin, func() error {
			if err := s.Delete(ldaptest.Admin.DN()); err != nil {
				return err
			}
			return s.Modify("dn: " + ldaptest.Admin.DN() + "\nchangetype: add\nobjectClass: inetOrgPerson\nuid: admin\ncn: Impostor\nsn: Impostor\n")
		}, "another one"},
	}
	for _, tc := range gone {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.Refresh(ctx, tc.id); err != nil {
				t.Fatalf("before the change: %v", err)
			}
			if err := tc.change(); err != nil {
				t.Fatal(err)
			}
			_, err := p.Refresh(ctx, tc.id)
			if !errors.Is(err, providers.ErrAccountGone) || errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %v, want ErrAccountGone (%s)", err, tc.reason)
			}
		})
	}

	t.Run("another provider's login", func(t *testing.T) {
		other := alice
		other.Provider = "other"
		if _, err := p.Refresh(ctx, other); errors.Is(err, providers.ErrAccountGone) || !errors.Is(err, providers.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable and not ErrAccountGone", err)
		}
	})

	t.Run("directory stopped", func(t *testing.T) {
		s.Stop()
		_, err := p.Refresh(ctx, alice)
		if !errors.Is(err, providers.ErrUnavailable) || errors.Is(err, providers.ErrAccountGone) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})

	if strings.Contains(logs.String(), "CANARY") {
		t.Errorf("secret in logs: %s", logs.String())
	}
}

// The re-check searches by the name the login was made with, which the
// user filter accepts, not by the canonical Username (uid), which a
// filter on mail alone would not find.
func TestRefreshByLoginName(t *testing.T) {
	s := ldaptest.Get(t, srv)
	cfg := decode(t, blockYAML(s))
	cfg.UserSearch.Filter = "(&(objectClass=inetOrgPerson)(mail={username}))"
	p, err := New("corp", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx := context.Background()
	id, err := p.Login(ctx, ldaptest.Carol.Mail, ldaptest.Carol.Password)
	if err != nil {
		t.Fatal(err)
	}
	if id.Username != ldaptest.Carol.UID {
		t.Fatalf("Username = %q, want the uid %q", id.Username, ldaptest.Carol.UID)
	}
	got, err := p.Refresh(ctx, id)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if !reflect.DeepEqual(got, id) {
		t.Errorf("Refresh = %+v\nlogin   = %+v", got, id)
	}
}

// A directory that accepts connections and never answers is
// ErrUnavailable within login_timeout, never ErrAccountGone.
func TestRefreshHangingDirectory(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	cfg := decode(t, `
url: ldap://`+ln.Addr().String()+`
insecure_no_tls: true
bind_dn: cn=reader,dc=example,dc=org
bind_password: x
user_search: {base_dn: "dc=example,dc=org"}
request_timeout: 10s
login_timeout: 300ms
`)
	p, err := New("hang", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	_, err = p.Refresh(context.Background(), providers.Identity{Provider: "hang", Subject: "x", Username: "alice"})
	if !errors.Is(err, providers.ErrUnavailable) || errors.Is(err, providers.ErrAccountGone) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

// BenchmarkRefresh is one re-check of a login (user search and nested
// group resolution with the service account, no bind) against slapd.
func BenchmarkRefresh(b *testing.B) {
	s := ldaptest.Get(b, srv)
	cfg := Config{}
	if err := yaml.Unmarshal([]byte(blockYAML(s)), &cfg); err != nil {
		b.Fatal(err)
	}
	p, err := New("corp", cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	ctx := context.Background()
	id, err := p.Login(ctx, ldaptest.Bob.UID, ldaptest.Bob.Password)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Refresh(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
