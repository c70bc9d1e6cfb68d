package sts_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

const (
	mfaWebRole = "arn:aws:iam::" + testAccount + ":role/mfa-web"
	mfaHopRole = "arn:aws:iam::" + testAccount + ":role/mfa-hop"
	mfaSerial  = "arn:aws:iam::" + testAccount + ":mfa/alice"
	// mfaPermissions allows s3:ListBucket always, s3:GetObject within an
	// hour of the MFA and s3:PutObject within five minutes of it.
	mfaPermissions = `{"Version":"2012-10-17","Statement":[
	  {"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":"*"},
	  {"Sid":"GetWithinHour","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}},
	  {"Sid":"PutWithinFive","Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"},"NumericLessThan":{"aws:MultiFactorAuthAge":"300"}}},
	  {"Sid":"DenyDeleteWithoutMFA","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}},
	  {"Sid":"Delete","Effect":"Allow","Action":"s3:DeleteObject","Resource":"*"}]}`
)

// codeVerifier is an MFAVerifier double: each of its codes works once for
// its serial; err, when set, is every answer (a fault).
type codeVerifier struct {
	mu     sync.Mutex
	serial string
	codes  map[string]bool
	at     time.Time
	err    error
	// sawIP and sawCaller are what the last call saw.
	sawIP     string
	sawCaller *sts.Session
}

func (v *codeVerifier) VerifyTokenCode(ctx context.Context, caller *sts.Session, serial, code string) (time.Time, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sawIP, v.sawCaller = sts.MFASourceIP(ctx), caller
	switch {
	case v.err != nil:
		return time.Time{}, v.err
	case serial != v.serial:
		return time.Time{}, errors.New("no such MFA device")
	case !v.codes[code]:
		return time.Time{}, errors.New("invalid or used code")
	}
	delete(v.codes, code)
	return v.at, nil
}

// newMFAEnv adds mfa-web (web identity with MFA at most 15 minutes old) and
// mfa-hop (AssumeRole from ci-deployer or mfa-web sessions with MFA); ver,
// when not nil, is the STS's MFAVerifier.
func newMFAEnv(t *testing.T, ver sts.MFAVerifier) *env {
	t.Helper()
	return newEnvWith(t, func(e *env, cfg *sts.Config) {
		if ver != nil {
			cfg.MFA = ver
		}
		cfg.Roles = append(cfg.Roles,
			sts.RoleConfig{Name: "mfa-web", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
				"Principal":{"Federated":"` + e.iss.providerARN() + `"},"Action":"sts:AssumeRoleWithWebIdentity",
				"Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"},"NumericLessThan":{"aws:MultiFactorAuthAge":"900"}}}]}`),
				Policies: [][]byte{[]byte(mfaPermissions)}},
			sts.RoleConfig{Name: "mfa-hop", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
				"Principal":{"AWS":["arn:aws:iam::` + testAccount + `:role/ci/ci-deployer","` + mfaWebRole + `"]},"Action":"sts:AssumeRole",
				"Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`),
				Policies: [][]byte{[]byte(mfaPermissions)}},
		)
	})
}

// webMFA asks for mfa-web with a token carrying claims.
func (e *env) webMFA(t *testing.T, claims map[string]any) (*awssts.AssumeRoleWithWebIdentityOutput, error) {
	t.Helper()
	return e.client(nil).AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(mfaWebRole), RoleSessionName: aws.String("alice"),
		WebIdentityToken: aws.String(e.iss.token(t, e.clk.Now(), claims)),
	})
}

// decide asks Authorize about action for the session of creds.
func (e *env) decide(t *testing.T, c *awssts.AssumeRoleWithWebIdentityOutput, action string) policy.Decision {
	t.Helper()
	sess := e.authenticate(t, *c.Credentials.AccessKeyId, *c.Credentials.SecretAccessKey, *c.Credentials.SessionToken)
	res, err := e.svc.Authorize(sess, action, "*", map[string][]string{"aws:MultiFactorAuthPresent": {"true"}, "aws:MultiFactorAuthAge": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Decision
}

// TestWebIdentityMFA: a token whose amr lists mfa makes an MFA session,
// dated by mfa_time, else auth_time, else iat; the trust policy sees it at
// issue time, Authorize later (the caller's own MFA keys are ignored).
func TestWebIdentityMFA(t *testing.T) {
	e := newMFAEnv(t, nil)
	now := e.clk.Now().Truncate(time.Second)
	ago := func(d time.Duration) float64 { return float64(now.Add(-d).Unix()) }
	cases := []struct {
		name    string
		claims  map[string]any
		code    string        // error code; "" issued
		mfaAge  time.Duration // the session's MFA age when issued
		present bool
	}{
		{"pwd only", map[string]any{"amr": []string{"pwd"}}, "AccessDenied", 0, false},
		{"no amr", nil, "AccessDenied", 0, false},
		{"otp is not mfa", map[string]any{"amr": []string{"otp"}, "mfa_time": ago(time.Minute)}, "AccessDenied", 0, false},
		{"mfa_time", map[string]any{"amr": []string{"pwd", "mfa"}, "mfa_time": ago(10 * time.Minute), "auth_time": ago(time.Hour)}, "", 10 * time.Minute, true},
		{"mfa_time too old for the trust policy", map[string]any{"amr": []string{"mfa"}, "mfa_time": ago(20 * time.Minute)}, "AccessDenied", 0, false},
		{"auth_time stands in", map[string]any{"amr": []string{"mfa"}, "auth_time": ago(5 * time.Minute)}, "", 5 * time.Minute, true},
		{"malformed auth_time is passed over for iat", map[string]any{"amr": []string{"mfa"}, "auth_time": "yesterday"}, "", 0, true},
		{"iat stands in", map[string]any{"amr": []string{"mfa"}}, "", 0, true},
		{"mfa_time slightly ahead counts as now", map[string]any{"amr": []string{"mfa"}, "mfa_time": float64(now.Add(time.Minute).Unix())}, "", 0, true},
		{"mfa_time far ahead", map[string]any{"amr": []string{"mfa"}, "mfa_time": float64(now.Add(time.Hour).Unix())}, "InvalidIdentityToken", 0, false},
		{"mfa_time not a number", map[string]any{"amr": []string{"mfa"}, "mfa_time": "1700000000"}, "InvalidIdentityToken", 0, false},
		{"mfa_time fractional", map[string]any{"amr": []string{"mfa"}, "mfa_time": ago(time.Minute) + 0.5}, "InvalidIdentityToken", 0, false},
		{"mfa_time zero", map[string]any{"amr": []string{"mfa"}, "mfa_time": 0}, "InvalidIdentityToken", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.webMFA(t, tc.claims)
			if tc.code != "" {
				if code, _, _ := apiErr(t, err); code != tc.code {
					t.Fatalf("code %s, want %s (%v)", code, tc.code, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sess := e.authenticate(t, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
			if sess.MFA != tc.present {
				t.Fatalf("session MFA %v", sess.MFA)
			}
			if got := sess.IssuedAt.Sub(sess.MFAAuthTime); sess.MFAAuthTime.IsZero() || got < tc.mfaAge || got > tc.mfaAge+2*time.Second {
				t.Fatalf("MFA at %v, issued at %v: age %v, want %v", sess.MFAAuthTime, sess.IssuedAt, got, tc.mfaAge)
			}
		})
	}
}

// TestMFAAgeDecidesPermissions: aws:MultiFactorAuthAge counts from the MFA,
// not from the issue of the credentials; a session without MFA has
// aws:MultiFactorAuthPresent false and no age (so BoolIfExists false
// denies, NumericLessThan on the age does not allow).
func TestMFAAgeDecidesPermissions(t *testing.T) {
	e := newMFAEnv(t, nil)
	now := e.clk.Now()
	out, err := e.webMFA(t, map[string]any{"amr": []string{"mfa"}, "mfa_time": float64(now.Add(-4 * time.Minute).Unix())})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		want    map[string]policy.Decision
	}{
		{0, map[string]policy.Decision{"s3:ListBucket": policy.Allow, "s3:GetObject": policy.Allow, "s3:PutObject": policy.Allow, "s3:DeleteObject": policy.Allow}},
		// Five minutes after the MFA (one after the issue): no more puts.
		{70 * time.Second, map[string]policy.Decision{"s3:GetObject": policy.Allow, "s3:PutObject": policy.ImplicitDeny}},
		// An hour after the MFA: no more gets either.
		{55 * time.Minute, map[string]policy.Decision{"s3:ListBucket": policy.Allow, "s3:GetObject": policy.ImplicitDeny, "s3:DeleteObject": policy.Allow}},
	}
	for i, st := range steps {
		e.clk.Advance(st.advance)
		for action, want := range st.want {
			if got := e.decide(t, out, action); got != want {
				t.Errorf("step %d: %s: %v, want %v", i, action, got, want)
			}
		}
	}

	// Without MFA (a role that does not ask for it): present is false and
	// the age absent, whatever the caller claims.
	plain := e.assume(t, "plain")
	sess := e.authenticate(t, *plain.Credentials.AccessKeyId, *plain.Credentials.SecretAccessKey, *plain.Credentials.SessionToken)
	if sess.MFA || !sess.MFAAuthTime.IsZero() {
		t.Fatalf("session without MFA: %+v", sess)
	}
}

// TestAssumeRoleTokenCode: AssumeRole with SerialNumber and TokenCode
// through aws-sdk-go-v2: the verifier decides; the new session is MFA from
// now, which its trust policy sees; the code works once; sessions chained
// from it inherit the MFA and its time; failures are AccessDenied with
// AWS's wording, audited without the code.
func TestAssumeRoleTokenCode(t *testing.T) {
	ver := &codeVerifier{serial: mfaSerial, codes: map[string]bool{"123456": true, "654321": true}}
	e := newMFAEnv(t, ver)
	base := e.assume(t, "base")
	caller := e.client(staticCreds(base))
	hop := func(serial, code *string) (*awssts.AssumeRoleOutput, error) {
		return caller.AssumeRole(context.Background(), &awssts.AssumeRoleInput{
			RoleArn: aws.String(mfaHopRole), RoleSessionName: aws.String("hop"), SerialNumber: serial, TokenCode: code})
	}

	// Without a code the trust policy (MFA required) refuses.
	if code, msg, _ := apiErr(t, func() error { _, err := hop(nil, nil); return err }()); code != "AccessDenied" || !strings.Contains(msg, "is not authorized to perform: sts:AssumeRole") {
		t.Fatalf("without MFA: %s %s", code, msg)
	}
	refusals := []struct {
		name         string
		serial, code *string
		msg          string
	}{
		{"serial alone", aws.String(mfaSerial), nil, "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."},
		{"code alone", nil, aws.String("123456"), "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."},
		{"wrong code", aws.String(mfaSerial), aws.String("000000"), "MultiFactorAuthentication failed with invalid MFA one time pass code. "},
		{"another device", aws.String("arn:aws:iam::" + testAccount + ":mfa/bob"), aws.String("654321"), "MultiFactorAuthentication failed with invalid MFA one time pass code. "},
	}
	for _, tc := range refusals {
		_, err := hop(tc.serial, tc.code)
		if code, msg, status := apiErr(t, err); code != "AccessDenied" || msg != tc.msg || status != http.StatusForbidden {
			t.Errorf("%s: %d %s %q", tc.name, status, code, msg)
		}
		if ev := e.lastEvent(t); ev.Outcome != "denied" || ev.Code != "AccessDenied" || strings.Contains(ev.Reason, "123456") || strings.Contains(ev.Reason, "000000") {
			t.Errorf("%s: audit %+v", tc.name, ev)
		}
	}

	out, err := hop(aws.String(mfaSerial), aws.String("123456"))
	if err != nil {
		t.Fatalf("with the code: %v", err)
	}
	if ver.sawCaller == nil || ver.sawCaller.RoleARN != e.roleARN() || ver.sawIP != "127.0.0.1" {
		t.Errorf("the verifier saw caller %+v from %q", ver.sawCaller, ver.sawIP)
	}
	sess := e.authenticate(t, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	if !sess.MFA || sess.MFAAuthTime.IsZero() || sess.MFAAuthTime.Sub(sess.IssuedAt).Abs() > time.Second {
		t.Fatalf("chained session MFA %v at %v (issued %v)", sess.MFA, sess.MFAAuthTime, sess.IssuedAt)
	}
	if res, _ := e.svc.Authorize(sess, "s3:PutObject", "*", nil); res.Decision != policy.Allow {
		t.Errorf("put right after the MFA: %v", res.Decision)
	}
	// The code is used up.
	if code, msg, _ := apiErr(t, func() error { _, err := hop(aws.String(mfaSerial), aws.String("123456")); return err }()); code != "AccessDenied" || !strings.Contains(msg, "invalid MFA one time pass code") {
		t.Errorf("reused code: %s %s", code, msg)
	}

	// A verifier that cannot answer: ServiceUnavailable, nothing issued.
	ver.mu.Lock()
	ver.err = fmt.Errorf("%w: store down", sts.ErrMFAUnavailable)
	ver.mu.Unlock()
	issued := e.svc.Issued()
	if code, _, status := apiErr(t, func() error { _, err := hop(aws.String(mfaSerial), aws.String("654321")); return err }()); code != "ServiceUnavailable" || status != http.StatusServiceUnavailable {
		t.Errorf("verifier down: %d %s", status, code)
	}
	if e.svc.Issued() != issued {
		t.Error("credentials issued while the verifier was down")
	}
}

// TestChainedMFAInherited: credentials chained without a code from an MFA
// session keep its MFA and its time (the age keeps counting from the
// original MFA); a chain from a session without MFA has none.
func TestChainedMFAInherited(t *testing.T) {
	e := newMFAEnv(t, nil)
	now := e.clk.Now()
	mfaAt := now.Add(-2 * time.Minute).Truncate(time.Second)
	web, err := e.webMFA(t, map[string]any{"amr": []string{"mfa"}, "mfa_time": float64(mfaAt.Unix())})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(4 * time.Minute)
	out, err := e.client(staticCreds(web)).AssumeRole(context.Background(), &awssts.AssumeRoleInput{
		RoleArn: aws.String(mfaHopRole), RoleSessionName: aws.String("chained")})
	if err != nil {
		t.Fatalf("chain from an MFA session: %v", err)
	}
	sess := e.authenticate(t, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	if !sess.MFA || !sess.MFAAuthTime.Equal(mfaAt) {
		t.Fatalf("chained MFA %v at %v, want at %v", sess.MFA, sess.MFAAuthTime, mfaAt)
	}
	// Six minutes after the MFA: no puts (five), gets (an hour) still.
	for action, want := range map[string]policy.Decision{"s3:PutObject": policy.ImplicitDeny, "s3:GetObject": policy.Allow} {
		if res, _ := e.svc.Authorize(sess, action, "*", nil); res.Decision != want {
			t.Errorf("%s: %v, want %v", action, res.Decision, want)
		}
	}
	// A session without MFA cannot chain to a role that asks for it.
	plain := e.assume(t, "plain")
	_, err = e.client(staticCreds(plain)).AssumeRole(context.Background(), &awssts.AssumeRoleInput{
		RoleArn: aws.String(mfaHopRole), RoleSessionName: aws.String("nomfa")})
	if code, _, _ := apiErr(t, err); code != "AccessDenied" {
		t.Errorf("chain without MFA: %s", code)
	}
}

// TestSAMLMFA: an assertion whose MFA AuthnStatement the verifier found
// (MFAInstant) makes an MFA session dated by it; one without is not MFA.
func TestSAMLMFA(t *testing.T) {
	e := newSAMLEnv(t)
	for _, tc := range []struct {
		name  string
		at    time.Duration // before now; -1: none
		code  string
		wantM bool
	}{
		{"no MFA statement", -1, "", false},
		{"MFA three minutes ago", 3 * time.Minute, "", true},
		{"MFA an hour ahead", -time.Hour, "InvalidIdentityToken", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.baseAssertion()
			if tc.at != -1 {
				a.MFAInstant = e.clk.Now().Add(-tc.at).Truncate(time.Second)
			}
			e.ver.set(a, nil)
			out, err := e.call(t, samlRole, nil)
			if tc.code != "" {
				if code, _, _ := apiErr(t, err); code != tc.code {
					t.Fatalf("code %s, want %s", code, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sess := e.authenticate(t, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
			if sess.MFA != tc.wantM || (tc.wantM && !sess.MFAAuthTime.Equal(a.MFAInstant)) {
				t.Fatalf("session MFA %v at %v, want %v at %v", sess.MFA, sess.MFAAuthTime, tc.wantM, a.MFAInstant)
			}
		})
	}
}
