package mfa

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/internal/store/redistest"
)

var testKey = bytes.Repeat([]byte{7}, 32)

// clock is a movable clock shared by a memory store and the services.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// codeAt is the TOTP code of secret at t, computed as an authenticator
// app would.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, validateOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// backend is a store the tests run on, with the clock to use (nil: the
// real one, for stores that keep real time).
type backend struct {
	name string
	open func(t *testing.T) (store.Store, *clock)
}

func backends() []backend {
	return []backend{
		{"memory", func(t *testing.T) (store.Store, *clock) {
			c := &clock{t: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)}
			m := store.NewMemory(c.now)
			t.Cleanup(func() { _ = m.Close() })
			return m, c
		}},
		{"redis", func(t *testing.T) (store.Store, *clock) {
			srv := redistest.Start(t)
			return openRedis(t, srv.URL), nil
		}},
	}
}

func openRedis(t *testing.T, u string) store.Store {
	t.Helper()
	r, err := store.NewRedis(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func newService(t *testing.T, st store.Store, c *clock, log *slog.Logger) *Service {
	t.Helper()
	opts := Options{Issuer: "idbroker test", Logger: log}
	if c != nil {
		opts.Now = c.now
	}
	s, err := New(st, testKey, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func nowOf(c *clock) time.Time {
	if c != nil {
		return c.now()
	}
	return time.Now()
}

// midStep waits, on the real clock (c nil), until the current TOTP step
// has at least 5 seconds left, so that the codes a test computes from now
// on stay in the steps it means.
func midStep(c *clock) {
	if c != nil {
		return
	}
	period := int64(Period / time.Second)
	if left := period - time.Now().Unix()%period; left < 5 {
		time.Sleep(time.Duration(left)*time.Second + 100*time.Millisecond)
	}
}

// enrol begins and confirms p's enrolment and returns the secret and the
// recovery codes.
func enrol(t *testing.T, s *Service, c *clock, p Person) (string, []string) {
	t.Helper()
	return enrolShifted(t, s, c, p, 0)
}

// enrolShifted is enrol confirming with the code of shift from now (the
// person's steps are claimed per person, whatever the enrolment).
func enrolShifted(t *testing.T, s *Service, c *clock, p Person, shift time.Duration) (string, []string) {
	t.Helper()
	ctx := context.Background()
	midStep(c)
	en, err := s.Begin(ctx, p)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	u, err := url.Parse(en.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != en.Secret {
		t.Fatalf("URI %q does not carry the secret as an otpauth TOTP URI", en.URI)
	}
	if q := u.Query(); q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("issuer") != "idbroker test" {
		t.Fatalf("URI %q: want digits 6, period 30, issuer", en.URI)
	}
	if enrolled, err := s.Enrolled(ctx, p); err != nil || enrolled {
		t.Fatalf("Enrolled before Confirm = %v, %v; want false", enrolled, err)
	}
	if _, err := s.Confirm(ctx, p, "000000x"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("Confirm with a malformed code: %v, want ErrInvalidCode", err)
	}
	codes, err := s.Confirm(ctx, p, codeAt(t, en.Secret, nowOf(c).Add(shift)))
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if len(codes) != RecoveryCodes {
		t.Fatalf("%d recovery codes, want %d", len(codes), RecoveryCodes)
	}
	if enrolled, err := s.Enrolled(ctx, p); err != nil || !enrolled {
		t.Fatalf("Enrolled after Confirm = %v, %v; want true", enrolled, err)
	}
	return en.Secret, codes
}

var alice = Person{Provider: "corp", Username: "alice"}

func TestEnrolVerifyReplay(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, c := b.open(t)
			s := newService(t, st, c, nil)
			ctx := context.Background()
			secret, _ := enrol(t, s, c, alice)
			// The Confirm used this step's code: it is refused now (enrol
			// leaves 5 s of the step).
			if _, err := s.VerifyTOTP(ctx, alice, codeAt(t, secret, nowOf(c))); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("the confirmation's code again: %v, want ErrInvalidCode", err)
			}
			if _, err := s.Begin(ctx, alice); !errors.Is(err, ErrEnrolled) {
				t.Fatalf("Begin when enrolled: %v, want ErrEnrolled", err)
			}
			next := nowOf(c).Add(Period)
			code := codeAt(t, secret, next)
			// "Alice" is alice: the user index's fold.
			at, err := s.Verify(ctx, Person{Provider: "corp", Username: "Alice"}, " "+code+" ")
			if err != nil {
				t.Fatalf("Verify the next step's code: %v", err)
			}
			if _, err := s.Verify(ctx, alice, code); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("replayed code: %v, want ErrInvalidCode", err)
			}
			enrolled, last, err := s.MFAStatus(ctx, "corp", "ALICE")
			if err != nil || !enrolled || last.Unix() != at.Unix() {
				t.Fatalf("MFAStatus = %v, %v, %v; want true, %v", enrolled, last, err, at)
			}
			if _, err := s.Verify(ctx, Person{Provider: "other", Username: "alice"}, code); !errors.Is(err, ErrNotEnrolled) {
				t.Fatalf("another provider's alice: %v, want ErrNotEnrolled", err)
			}
			for _, bad := range []string{"", "12345", "1234567", "abcdef", "１２３４５６", strings.Repeat("9", 1000)} {
				if _, err := s.Verify(ctx, alice, bad); !errors.Is(err, ErrInvalidCode) {
					t.Errorf("Verify(%q): %v, want ErrInvalidCode", bad, err)
				}
			}
		})
	}
}

func TestReplayRefusedOnSecondReplica(t *testing.T) {
	srv := redistest.Start(t)
	a := newService(t, openRedis(t, srv.URL), nil, nil)
	b := newService(t, openRedis(t, srv.URL), nil, nil)
	ctx := context.Background()
	secret, codes := enrol(t, a, nil, alice)
	if ok, err := b.Enrolled(ctx, alice); err != nil || !ok {
		t.Fatalf("replica b: Enrolled = %v, %v", ok, err)
	}
	code := codeAt(t, secret, time.Now().Add(Period))
	if _, err := b.Verify(ctx, alice, code); err != nil {
		t.Fatalf("replica b: %v", err)
	}
	if _, err := a.Verify(ctx, alice, code); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("replica a, the code b accepted: %v, want ErrInvalidCode", err)
	}
	if _, err := a.Verify(ctx, alice, codes[3]); err != nil {
		t.Fatalf("replica a, a recovery code: %v", err)
	}
	if _, err := b.Verify(ctx, alice, codes[3]); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("replica b, the recovery code a accepted: %v, want ErrInvalidCode", err)
	}
	// Two replicas racing with one code: exactly one wins.
	code = codeAt(t, secret, time.Now().Add(-Period))
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			_, results[i] = s.Verify(ctx, alice, code)
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrInvalidCode):
			t.Errorf("racing Verify: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d racing Verify calls of one code won, want exactly 1", wins)
	}
}

func TestRecoveryCodesOnce(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, c := b.open(t)
			s := newService(t, st, c, nil)
			ctx := context.Background()
			_, codes := enrol(t, s, c, alice)
			seen := map[string]bool{}
			for _, code := range codes {
				if _, ok := normalizeRecovery(code); !ok || seen[code] || IsTOTPCode(code) {
					t.Fatalf("recovery code %q: malformed or repeated", code)
				}
				seen[code] = true
			}
			if left, err := s.RecoveryLeft(ctx, alice); err != nil || left != RecoveryCodes {
				t.Fatalf("RecoveryLeft = %d, %v", left, err)
			}
			// Typed in upper case without the dash: the same code.
			typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", ""))
			if _, err := s.Verify(ctx, alice, typed); err != nil {
				t.Fatalf("first use of a recovery code: %v", err)
			}
			if _, err := s.VerifyRecovery(ctx, alice, codes[0]); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("second use: %v, want ErrInvalidCode", err)
			}
			if _, err := s.VerifyRecovery(ctx, alice, codes[1]); err != nil {
				t.Fatalf("another code: %v", err)
			}
			if left, err := s.RecoveryLeft(ctx, alice); err != nil || left != RecoveryCodes-2 {
				t.Fatalf("RecoveryLeft = %d, %v; want %d", left, err, RecoveryCodes-2)
			}
			if _, err := s.VerifyRecovery(ctx, alice, "zzzzz-zzzzz"); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("a code never given: %v", err)
			}
			if _, err := s.VerifyRecovery(ctx, Person{Provider: "corp", Username: "bob"}, codes[2]); !errors.Is(err, ErrNotEnrolled) {
				t.Fatalf("alice's code for bob: %v, want ErrNotEnrolled", err)
			}
		})
	}
}

func TestReset(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, c := b.open(t)
			s := newService(t, st, c, nil)
			ctx := context.Background()
			secret, codes := enrol(t, s, c, alice)
			if err := s.Reset(ctx, Person{Provider: "corp", Username: "ALICE"}); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.Enrolled(ctx, alice); err != nil || ok {
				t.Fatalf("Enrolled after Reset = %v, %v", ok, err)
			}
			if en, last, err := s.MFAStatus(ctx, "corp", "alice"); err != nil || en || !last.IsZero() {
				t.Fatalf("MFAStatus after Reset = %v, %v, %v", en, last, err)
			}
			if _, err := s.Verify(ctx, alice, codeAt(t, secret, nowOf(c).Add(Period))); !errors.Is(err, ErrNotEnrolled) {
				t.Fatalf("Verify after Reset: %v, want ErrNotEnrolled", err)
			}
			if err := s.Reset(ctx, alice); err != nil {
				t.Fatalf("Reset of a person not enrolled: %v", err)
			}
			// A new enrolment: the old secret and recovery codes are dead.
			secret2, _ := enrolShifted(t, s, c, alice, -Period)
			if secret2 == secret {
				t.Fatal("the new enrolment has the old secret")
			}
			if _, err := s.Verify(ctx, alice, codes[0]); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("an old recovery code: %v, want ErrInvalidCode", err)
			}
		})
	}
}

func TestDrift(t *testing.T) {
	st, c := backends()[0].open(t)
	s := newService(t, st, c, nil)
	ctx := context.Background()
	secret, _ := enrol(t, s, c, alice)
	c.add(10 * Period)
	for _, tc := range []struct {
		steps int
		ok    bool
	}{{-2, false}, {2, false}, {-1, true}, {1, true}, {0, true}, {3, false}} {
		code := codeAt(t, secret, c.now().Add(time.Duration(tc.steps)*Period))
		_, err := s.VerifyTOTP(ctx, alice, code)
		switch {
		case tc.ok && err != nil:
			t.Errorf("a code %d step(s) away: %v, want accepted", tc.steps, err)
		case !tc.ok && !errors.Is(err, ErrInvalidCode):
			t.Errorf("a code %d step(s) away: %v, want ErrInvalidCode", tc.steps, err)
		}
	}
}

func TestPendingExpiresAndConfirmOnce(t *testing.T) {
	st, c := backends()[0].open(t)
	s := newService(t, st, c, nil)
	ctx := context.Background()
	if _, err := s.Confirm(ctx, alice, "123456"); !errors.Is(err, ErrNoPending) {
		t.Fatalf("Confirm without Begin: %v, want ErrNoPending", err)
	}
	en, err := s.Begin(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	c.add(PendingTTL + time.Second)
	if _, err := s.Confirm(ctx, alice, codeAt(t, en.Secret, c.now())); !errors.Is(err, ErrNoPending) {
		t.Fatalf("Confirm after %s: %v, want ErrNoPending", PendingTTL, err)
	}
	en, err = s.Begin(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Confirm(ctx, alice, codeAt(t, en.Secret, c.now())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Confirm(ctx, alice, codeAt(t, en.Secret, c.now().Add(Period))); !errors.Is(err, ErrNoPending) {
		t.Fatalf("a second Confirm: %v, want ErrNoPending", err)
	}
}

// TestRecordsSealedAndBound: the store never holds the secret or a
// recovery code in clear, and a record copied to another person does not
// open.
func TestRecordsSealedAndBound(t *testing.T) {
	st, c := backends()[0].open(t)
	var logs bytes.Buffer
	s := newService(t, st, c, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := context.Background()
	secret, codes := enrol(t, s, c, alice)
	rec, err := st.GetSession(ctx, s.enrolledID(alice))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append([]string{secret}, codes...) {
		norm, _ := normalizeRecovery(v)
		if bytes.Contains(rec.Data, []byte(v)) || (norm != "" && bytes.Contains(rec.Data, []byte(norm))) {
			t.Fatalf("the stored record holds %q in clear", v)
		}
	}
	bob := Person{Provider: "corp", Username: "bob"}
	rec.ID = s.enrolledID(bob)
	rec.Expires = c.now().Add(time.Hour)
	if err := st.PutSession(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, bob, codeAt(t, secret, c.now().Add(Period))); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("alice's record under bob's id: %v, want ErrUnreadable", err)
	}
	other, err := New(st, bytes.Repeat([]byte{8}, 32), Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(ctx, alice, codeAt(t, secret, c.now().Add(Period))); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("another key: %v, want ErrUnreadable", err)
	}
	if ok, err := other.Enrolled(ctx, alice); err != nil || !ok {
		t.Fatalf("another key: Enrolled = %v, %v; want true (reset, not skipped)", ok, err)
	}
	if _, err := other.Begin(ctx, alice); !errors.Is(err, ErrEnrolled) {
		t.Fatalf("another key: Begin = %v, want ErrEnrolled", err)
	}
	if err := other.Reset(ctx, alice); err != nil {
		t.Fatalf("another key: Reset: %v", err)
	}
	if ok, err := s.Enrolled(ctx, alice); err != nil || ok {
		t.Fatalf("after a reset under another key: Enrolled = %v, %v", ok, err)
	}
	for _, v := range append([]string{secret}, codes...) {
		if strings.Contains(logs.String(), v) {
			t.Fatalf("the log holds a secret or code: %s", logs.String())
		}
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	s := newService(t, openRedis(t, srv.URL), nil, nil)
	ctx := context.Background()
	secret, codes := enrol(t, s, nil, alice)
	srv.Stop()
	for name, call := range map[string]func() error{
		"totp":     func() error { _, err := s.Verify(ctx, alice, codeAt(t, secret, time.Now().Add(Period))); return err },
		"recovery": func() error { _, err := s.Verify(ctx, alice, codes[0]); return err },
		"enrolled": func() error { _, err := s.Enrolled(ctx, alice); return err },
		"begin":    func() error { _, err := s.Begin(ctx, Person{Provider: "corp", Username: "bob"}); return err },
		"reset":    func() error { return s.Reset(ctx, alice) },
	} {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the store down: %v, want store.ErrUnavailable", name, err)
		}
	}
}

func TestNewRefusesBadKey(t *testing.T) {
	if _, err := New(store.NewMemory(nil), []byte("short"), Options{}); err == nil {
		t.Fatal("New accepted a 5-byte key")
	}
	if _, err := New(nil, testKey, Options{}); err == nil {
		t.Fatal("New accepted no store")
	}
}
