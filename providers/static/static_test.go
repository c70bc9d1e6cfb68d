package static

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/idbroker/idbroker/providers"
)

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestLogin(t *testing.T) {
	p, err := New("demo", Config{Users: []User{
		{Username: "alice", PasswordHash: hash(t, "alice"), Email: "alice@example.org", Groups: []string{"developers"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Login(context.Background(), "alice", "alice")
	if err != nil {
		t.Fatalf("good password: %v", err)
	}
	if id.Provider != "demo" || id.Username != "alice" || id.Subject != "alice" || len(id.Groups) != 1 || id.Groups[0] != "developers" {
		t.Fatalf("identity = %+v", id)
	}
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "bob"},
		{"unknown user", "mallory", "alice"},
		{"empty password", "alice", ""},
		{"nul in username", "alice\x00", "alice"},
		{"huge username", strings.Repeat("a", 5000), "alice"},
		{"huge password", "alice", strings.Repeat("a", 5000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.Login(context.Background(), tc.user, tc.pass); !errors.Is(err, providers.ErrInvalidCredentials) {
				t.Fatalf("err = %v, want ErrInvalidCredentials", err)
			}
		})
	}
}

// The provider refuses an empty password itself (the broker does not filter
// it): even a user whose hash is of the empty string cannot sign in with it.
func TestLoginRefusesEmptyPassword(t *testing.T) {
	p, err := New("demo", Config{Users: []User{{Username: "blank", PasswordHash: hash(t, "")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Login(context.Background(), "blank", ""); !errors.Is(err, providers.ErrInvalidCredentials) {
		t.Fatalf("empty password against an empty-password hash: err = %v, want ErrInvalidCredentials", err)
	}
}

func TestValidate(t *testing.T) {
	errs := Config{Users: []User{{Username: "", PasswordHash: "x"}, {Username: "a", PasswordHash: "y"}, {Username: "a", PasswordHash: "z"}}}.Validate()
	joined := errors.Join(errs...).Error()
	for _, want := range []string{"users[0].username", "users[0].password_hash", "users[2].username", "listed twice"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors %q do not mention %q", joined, want)
		}
	}
	if errs := (Config{}).Validate(); len(errs) == 0 {
		t.Error("empty config accepted")
	}
}
