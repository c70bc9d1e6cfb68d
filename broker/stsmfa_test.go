package broker

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/idbroker/idbroker/internal/mfa"
	"github.com/idbroker/idbroker/sts"
)

// TestSTSMFAVerifyTokenCode: the STS's MFA check accepts a code of the
// enrolment of the person whose broker session the credentials come from,
// under that person's own serial, once; it refuses before it is attached,
// credentials of another provider, unknown and ended sessions, and any
// other serial (without using the code up).
func TestSTSMFAVerifyTokenCode(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	svc, err := mfa.New(b.store, make([]byte, 32), mfa.Options{Now: b.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	b.s.cfg.MFA = svc // the fixture's broker has no MFA service of its own
	ctx := context.Background()
	alice := mfa.Person{Provider: "corp", Username: "alice"}
	enr, err := svc.Begin(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	code := func(steps int) string {
		c, err := totp.GenerateCode(enr.Secret, b.clk.now().Add(time.Duration(steps)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := svc.Confirm(ctx, alice, code(0)); err != nil {
		t.Fatal(err)
	}
	token, sid := b.createSession(t, "alice")
	_, olgaSID := b.createSession(t, "olga")

	const prov = "arn:aws:iam::" + moAccount + ":oidc-provider/broker.example"
	const serial = "arn:aws:iam::" + moAccount + ":mfa/alice"
	m := NewSTSMFA(STSMFAConfig{Account: moAccount, SessionProviders: []string{prov}})
	caller := func(sid, provider string) *sts.Session {
		return &sts.Session{AccessKeyID: "ASIAEXAMPLEEXAMPLE00", SessionID: sid, Provider: provider}
	}
	if _, err := m.VerifyTokenCode(ctx, caller(sid, prov), serial, code(1)); err == nil || !strings.Contains(err.Error(), "not serving") {
		t.Fatalf("before Attach: %v", err)
	}
	m.Attach(b.s)
	next := code(1)
	for _, tc := range []struct {
		name           string
		caller         *sts.Session
		serial, reason string
	}{
		{"another provider's credentials", caller(sid, "arn:aws:iam::"+moAccount+":oidc-provider/idp.example"), serial, "do not come from a broker session"},
		{"no session", caller("", prov), serial, "do not come from a broker session"},
		{"unknown session", caller("bm9zdWNoc2Vzc2lvbmlk", prov), serial, "broker session"},
		{"another person's serial", caller(sid, prov), "arn:aws:iam::" + moAccount + ":mfa/olga", "not the MFA device"},
		{"another person's session", caller(olgaSID, prov), serial, "not the MFA device"},
		{"another account", caller(sid, prov), "arn:aws:iam::999999999999:mfa/alice", "not the MFA device"},
		{"another partition", caller(sid, prov), "arn:aws-cn:iam::" + moAccount + ":mfa/alice", "not the MFA device"},
		{"a serial number", caller(sid, prov), "GAHT12345678", "not the MFA device"},
		{"a path", caller(sid, prov), serial + "/x", "not the MFA device"},
	} {
		if _, err := m.VerifyTokenCode(ctx, tc.caller, tc.serial, next); err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.reason)
		}
	}
	// The code was not used up by those: it works now (the serial's case
	// does not matter, as the user index folds it), then never again.
	at, err := m.VerifyTokenCode(ctx, caller(sid, prov), "arn:aws:iam::"+moAccount+":mfa/Alice", next)
	if err != nil || !at.Equal(b.clk.now()) {
		t.Fatalf("right code: %v at %v", err, at)
	}
	if _, err := m.VerifyTokenCode(ctx, caller(sid, prov), serial, next); err == nil {
		t.Fatal("a code worked twice")
	}
	if len(b.auditEvents(t, "mfa.verified")) != 1 || len(b.auditEvents(t, "mfa.failed")) == 0 {
		t.Error("the checks were not audited")
	}
	// An ended session's credentials prove nobody's presence any more.
	if rec, _ := b.request(t, http.MethodDelete, "/api/v1/sessions/current", token, "", ""); rec.Code != http.StatusNoContent {
		t.Fatalf("end the session: %d", rec.Code)
	}
	if _, err := m.VerifyTokenCode(ctx, caller(sid, prov), serial, code(-1)); err == nil || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("ended session: %v", err)
	}
}
