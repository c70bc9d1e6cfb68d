package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
)

// rightPassword accepts the password "right" for anyone.
type rightPassword struct{}

func (rightPassword) Login(_ context.Context, user, pass string) (providers.Identity, error) {
	if pass == "right" {
		return providers.Identity{Provider: "corp", Username: user}, nil
	}
	return providers.Identity{}, providers.ErrInvalidCredentials
}

// TestSecondFactorLockHoldsAcrossRightPasswords: a thief with the password
// cannot guess codes for ever between right passwords (which reset the
// name's counters): the second factor locks after UserThreshold wrong
// codes, whatever the passwords in between, and is locked for everyone
// (refused like a wrong code) until the lock lapses.
func TestSecondFactorLockHoldsAcrossRightPasswords(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := store.NewMemory(clock.now)
	l, err := newLockout(LoginProtection{UserThreshold: 3, IPThreshold: 1000, LockDuration: time.Minute}, st, []Provider{{Name: "corp"}}, slog.New(slog.DiscardHandler), clock.now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if _, err := authenticate(ctx, l, "corp", rightPassword{}, "alice", "right", "10.0.0.1"); err != nil {
			t.Fatalf("password %d: %v", i, err)
		}
		m, err := l.admitMFA(ctx, "corp", "Alice", "10.0.0.1")
		if err != nil {
			t.Fatalf("second factor %d admitted: %v", i, err)
		}
		if err := m.failed(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The password still works (the name is not locked by codes alone) …
	if _, err := authenticate(ctx, l, "corp", rightPassword{}, "alice", "right", "10.0.0.2"); err != nil {
		t.Fatalf("password after the codes: %v", err)
	}
	// … but the second factor is locked, from any address.
	if _, err := l.admitMFA(ctx, "corp", "alice", "192.0.2.9"); !errors.Is(err, providers.ErrInvalidCredentials) || !errors.Is(err, errLocked) {
		t.Fatalf("second factor after 3 wrong codes: %v, want locked", err)
	}
	if ttl, err := l.mfaLockTTL(ctx, "corp", "ALICE"); err != nil || ttl <= 0 {
		t.Fatalf("mfaLockTTL = %v, %v", ttl, err)
	}
	clock.add(time.Minute + time.Second)
	m, err := l.admitMFA(ctx, "corp", "alice", "10.0.0.1")
	if err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	m.succeeded(ctx)
	// A right code reset the counter: two wrong codes do not lock.
	for range 2 {
		m, err := l.admitMFA(ctx, "corp", "alice", "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.failed(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.admitMFA(ctx, "corp", "alice", "10.0.0.1"); err != nil {
		t.Fatalf("two wrong codes after a right one locked: %v", err)
	}
	// Off: nothing is counted or refused.
	var off *lockout
	if m, err := off.admitMFA(ctx, "corp", "alice", "10.0.0.1"); err != nil || m.failed(ctx) != nil {
		t.Fatalf("no protection: %v", err)
	}
}

func TestIssuerMFATime(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	is, err := NewIssuer("https://broker.example", key, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	mfaAt := now.Add(-7 * time.Minute)
	for _, tc := range []struct {
		req     TokenRequest
		amr     string
		mfaTime any
	}{
		{TokenRequest{RoleName: "Prod", Provider: "corp", Username: "alice", MFA: true, MFATime: mfaAt}, "mfa", float64(mfaAt.Unix())},
		{TokenRequest{RoleName: "Prod", Provider: "corp", Username: "alice", MFA: true}, "mfa", nil},
		{TokenRequest{RoleName: "Prod", Provider: "corp", Username: "alice", MFATime: mfaAt}, "pwd", nil},
	} {
		tok, err := is.Sign(tc.req)
		if err != nil {
			t.Fatal(err)
		}
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
			t.Fatal(err)
		}
		amr, _ := claims["amr"].([]any)
		if len(amr) != 1 || amr[0] != tc.amr || claims["mfa_time"] != tc.mfaTime {
			t.Errorf("%+v: amr %v, mfa_time %v; want %s, %v", tc.req, claims["amr"], claims["mfa_time"], tc.amr, tc.mfaTime)
		}
	}
}

func TestWithMFAAndSAMLAuthTime(t *testing.T) {
	signIn := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	upstreamMFA := signIn.Add(-time.Minute)
	stepUp := signIn.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		id      providers.Identity
		at      time.Time
		mfa     bool
		mfaTime time.Time
		authnAt time.Time
	}{
		{"no MFA anywhere", providers.Identity{AuthTime: signIn}, time.Time{}, false, time.Time{}, signIn},
		{"upstream MFA only", providers.Identity{AuthTime: signIn, MFA: true, MFATime: upstreamMFA}, time.Time{}, true, upstreamMFA, upstreamMFA},
		{"a step-up", providers.Identity{AuthTime: signIn}, stepUp, true, stepUp, stepUp},
		{"a step-up after upstream MFA: the later", providers.Identity{AuthTime: signIn, MFA: true, MFATime: upstreamMFA}, stepUp, true, stepUp, stepUp},
		{"upstream MFA after an older step-up", providers.Identity{AuthTime: signIn, MFA: true, MFATime: stepUp}, upstreamMFA, true, stepUp, stepUp},
	} {
		got := withMFA(tc.id, tc.at)
		if got.MFA != tc.mfa || !got.MFATime.Equal(tc.mfaTime) || !samlAuthTime(got).Equal(tc.authnAt) {
			t.Errorf("%s: MFA %v at %v, AuthnInstant %v; want %v at %v, %v", tc.name, got.MFA, got.MFATime, samlAuthTime(got), tc.mfa, tc.mfaTime, tc.authnAt)
		}
	}
}

func TestCheckMFAPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy  string
		service bool
		ok      bool
	}{
		{"", false, true}, {"off", false, true}, {"optional", true, true}, {"required", true, true},
		{"required", false, false}, {"optional", false, false}, {"Required", true, false}, {"on", true, false},
	} {
		err := checkMFAPolicy(Provider{Name: "corp", MFA: tc.policy}, tc.service)
		if (err == nil) != tc.ok {
			t.Errorf("mfa %q (service %v): %v", tc.policy, tc.service, err)
		}
	}
}
