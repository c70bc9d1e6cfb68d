package static

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// Refresh re-checks a login against the user list in force: after a
// reload (a new Provider from the new configuration) a removed user is
// ErrAccountGone and a kept one has the groups and mfa configured now.
func TestRefresh(t *testing.T) {
	before, err := New("demo", Config{Users: []User{
		{Username: "alice", PasswordHash: hash(t, "alice-pw"), Groups: []string{"developers"}, MFA: true},
		{Username: "bob", PasswordHash: hash(t, "bob-pw"), Groups: []string{"developers"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var _ providers.Refresher = before
	ctx := context.Background()
	alice, err := before.Login(ctx, "alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	if !alice.MFA || alice.MFATime.IsZero() || !alice.MFATime.Equal(alice.AuthTime) {
		t.Fatalf("login of a user configured with mfa: %+v", alice)
	}
	bob, err := before.Login(ctx, "bob", "bob-pw")
	if err != nil {
		t.Fatal(err)
	}
	if bob.MFA || !bob.MFATime.IsZero() {
		t.Fatalf("login of a user without mfa: %+v", bob)
	}
	alice.Expiry = alice.AuthTime.Add(time.Hour)
	alice.Upstream = []byte("kept")

	// Nothing changed: the identity comes back as it was.
	got, err := before.Refresh(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, alice) {
		t.Errorf("Refresh = %+v\nlogin   = %+v", got, alice)
	}

	after, err := New("demo", Config{Users: []User{
		{Username: "alice", PasswordHash: hash(t, "alice-pw"), Groups: []string{"ops"}},
		{Username: "carol", PasswordHash: hash(t, "carol-pw")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = after.Refresh(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Groups, []string{"ops"}) || got.MFA || !got.MFATime.IsZero() ||
		!got.AuthTime.Equal(alice.AuthTime) || !got.Expiry.Equal(alice.Expiry) || string(got.Upstream) != "kept" {
		t.Errorf("after the reload: %+v", got)
	}
	if _, err := after.Refresh(ctx, bob); !errors.Is(err, providers.ErrAccountGone) {
		t.Errorf("removed user: err = %v, want ErrAccountGone", err)
	}

	other := alice
	other.Provider = "corp"
	if _, err := after.Refresh(ctx, other); errors.Is(err, providers.ErrAccountGone) || !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("another provider's login: err = %v, want ErrUnavailable", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := after.Refresh(cancelled, alice); errors.Is(err, providers.ErrAccountGone) || !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("cancelled: err = %v, want ErrUnavailable", err)
	}
}
