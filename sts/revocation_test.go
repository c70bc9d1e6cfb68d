package sts_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/idbroker/idbroker/sts"
)

// The real checker is internal/revocation.Set, which sts may not import
// (TestImportBoundaries); its own tests run it behind a real sts.Service.
// Here a checker with explicit rules shows what sts asks and how it
// refuses.

// revoker is a RevocationChecker whose rules the test sets; it records
// every subject it is asked about.
type revoker struct {
	mu    sync.Mutex
	rules []func(sts.RevocationSubject) bool
	asked []sts.RevocationSubject
}

func (r *revoker) Revoked(c sts.RevocationSubject) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, c)
	for _, rule := range r.rules {
		if rule(c) {
			return true
		}
	}
	return false
}

func (r *revoker) revoke(rule func(sts.RevocationSubject) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules = append(r.rules, rule)
}

func (r *revoker) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules, r.asked = nil, nil
}

// issuedBefore is the NotBefore rule: whole-second issue times before nb.
func issuedBefore(c sts.RevocationSubject, nb time.Time) bool { return c.IssuedAt.Before(nb) }

const loopRole = "arn:aws:iam::" + testAccount + ":role/loop"

// newRevocationEnv is an STS with a revoker and a role "loop" that the
// ci-deployer role and loop itself may assume (for chains).
func newRevocationEnv(t *testing.T) (*env, *revoker) {
	t.Helper()
	rv := &revoker{}
	e := newEnvWith(t, func(e *env, cfg *sts.Config) {
		cfg.Revocations = rv
		cfg.Roles = append(cfg.Roles, sts.RoleConfig{Name: "loop",
			TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::` + testAccount + `:role/ci/ci-deployer","` + loopRole + `"]},"Action":"sts:AssumeRole"}]}`),
			Policies:    [][]byte{[]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)}})
	})
	return e, rv
}

// assumeSID exchanges a web identity token with the given sid claim (none
// when "").
func (e *env) assumeSID(t *testing.T, sid string) aws.Credentials {
	t.Helper()
	over := map[string]any{}
	if sid != "" {
		over["sid"] = sid
	}
	out, err := e.client(nil).AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(e.roleARN()), RoleSessionName: aws.String("rev"),
		WebIdentityToken: aws.String(e.iss.token(t, e.clk.Now(), over)),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
}

func (e *env) assumeRole(creds aws.Credentials, role, name string) (aws.Credentials, error) {
	out, err := e.client(staticProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)).AssumeRole(context.Background(),
		&awssts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String(name)})
	if err != nil {
		return aws.Credentials{}, err
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
}

func (e *env) callerIdentity(creds aws.Credentials) error {
	_, err := e.client(staticProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)).
		GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	return err
}

// wantRevoked checks err is the unknown-token answer.
func wantRevoked(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted, want revoked", what)
		return
	}
	code, msg, status := apiErr(t, err)
	if code != "InvalidClientTokenId" || status != 403 || msg != "The security token included in the request is invalid." {
		t.Errorf("%s: %s %d %q, want 403 InvalidClientTokenId", what, code, status, msg)
	}
}

// TestRevokedSessionAndItsChain: credentials carry the sid of their web
// identity token, chained ones inherit it with their ancestry; once the
// session is revoked both are refused on GetCallerIdentity and cannot
// chain, while another session's are not, and credentials issued after
// NotBefore are not.
func TestRevokedSessionAndItsChain(t *testing.T) {
	e, rv := newRevocationEnv(t)
	root := e.assumeSID(t, "sess-1")
	other := e.assumeSID(t, "sess-2")
	hop, err := e.assumeRole(root, loopRole, "hop")
	if err != nil {
		t.Fatal(err)
	}
	rs := e.authenticate(t, root.AccessKeyID, root.SecretAccessKey, root.SessionToken)
	hs := e.authenticate(t, hop.AccessKeyID, hop.SecretAccessKey, hop.SessionToken)
	if hs.SessionID != "sess-1" || !slices.Equal(hs.ParentAccessKeyIDs, []string{root.AccessKeyID}) ||
		!slices.Equal(hs.ParentRoleARNs, []string{e.roleARN()}) || len(hs.ParentIssuedAt) != 1 || !hs.ParentIssuedAt[0].Equal(rs.IssuedAt) ||
		hs.Provider != e.iss.providerARN() {
		t.Fatalf("chained session %+v", hs)
	}
	if got := rv.asked[len(rv.asked)-1]; got.SessionID != "sess-1" || got.AccessKeyID != hop.AccessKeyID || got.RoleARN != loopRole ||
		!slices.Equal(got.ParentAccessKeyIDs, hs.ParentAccessKeyIDs) || !got.IssuedAt.Equal(hs.IssuedAt) || got.Provider != hs.Provider ||
		len(got.ParentIssuedAt) != 1 || !got.ParentIssuedAt[0].Equal(rs.IssuedAt) {
		t.Fatalf("checker asked %+v", got)
	}

	nb := e.clk.Now().Truncate(time.Second).Add(time.Second)
	rv.revoke(func(c sts.RevocationSubject) bool { return c.SessionID == "sess-1" && issuedBefore(c, nb) })
	wantRevoked(t, "session's credentials", e.callerIdentity(root))
	if ev := e.lastEvent(t); ev.Outcome != "denied" || ev.Code != "InvalidClientTokenId" || ev.Reason != "credentials revoked" ||
		ev.Action != "GetCallerIdentity" || ev.AccessKeyID != root.AccessKeyID || ev.SessionID != "sess-1" || ev.RoleARN != e.roleARN() {
		t.Errorf("audit %+v", ev)
	}
	wantRevoked(t, "chained credentials", e.callerIdentity(hop))
	_, err = e.assumeRole(root, loopRole, "again")
	wantRevoked(t, "chaining from revoked credentials", err)
	_, err = e.assumeRole(hop, loopRole, "deeper")
	wantRevoked(t, "chaining from revoked chained credentials", err)
	if _, err := e.svc.SessionFromToken(root.AccessKeyID, root.SessionToken); err == nil || err.(*sts.Error).Code != "InvalidClientTokenId" {
		t.Errorf("SessionFromToken: %v", err)
	}
	// A Session obtained before the revocation cannot chain in process.
	if _, err := e.svc.AssumeRole(context.Background(), hs, &sts.AssumeRoleInput{RoleArn: loopRole, RoleSessionName: "inproc"}); err == nil || err.(*sts.Error).Code != "InvalidClientTokenId" {
		t.Errorf("in-process AssumeRole: %v", err)
	}
	if err := e.callerIdentity(other); err != nil {
		t.Errorf("another session: %v", err)
	}

	e.clk.Advance(2 * time.Second)
	fresh := e.assumeSID(t, "sess-1")
	if err := e.callerIdentity(fresh); err != nil {
		t.Errorf("credentials issued after NotBefore: %v", err)
	}
	e.assertNoSecrets(t, root.SecretAccessKey, root.SessionToken, hop.SecretAccessKey, hop.SessionToken)
}

// TestRevokedRoleAndKeyReachChains: a role or access key revocation
// refuses the credentials of that role or key and every credential chained
// from them, and nothing else.
func TestRevokedRoleAndKeyReachChains(t *testing.T) {
	e, rv := newRevocationEnv(t)
	root, sibling := e.assumeSID(t, ""), e.assumeSID(t, "")
	hop, err := e.assumeRole(root, loopRole, "hop")
	if err != nil {
		t.Fatal(err)
	}
	hop2, err := e.assumeRole(root, loopRole, "hop2")
	if err != nil {
		t.Fatal(err)
	}
	deep, err := e.assumeRole(hop, loopRole, "deep")
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]aws.Credentials{"root": root, "sibling": sibling, "hop": hop, "hop2": hop2, "deep": deep}
	nb := e.clk.Now().Truncate(time.Second).Add(time.Second)
	byRole := func(arn string) func(sts.RevocationSubject) bool {
		return func(c sts.RevocationSubject) bool {
			return (c.RoleARN == arn || slices.Contains(c.ParentRoleARNs, arn)) && issuedBefore(c, nb)
		}
	}
	byKey := func(akid string) func(sts.RevocationSubject) bool {
		return func(c sts.RevocationSubject) bool {
			return (c.AccessKeyID == akid || slices.Contains(c.ParentAccessKeyIDs, akid)) && issuedBefore(c, nb)
		}
	}
	for _, tc := range []struct {
		name    string
		rule    func(sts.RevocationSubject) bool
		revoked []string
	}{
		{"role of the roots", byRole(e.roleARN()), []string{"root", "sibling", "hop", "hop2", "deep"}},
		{"role of the hops", byRole(loopRole), []string{"hop", "hop2", "deep"}},
		{"key of a root", byKey(root.AccessKeyID), []string{"root", "hop", "hop2", "deep"}},
		{"key of a hop", byKey(hop.AccessKeyID), []string{"hop", "deep"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv.reset()
			rv.revoke(tc.rule)
			for name, c := range creds {
				err := e.callerIdentity(c)
				if slices.Contains(tc.revoked, name) {
					wantRevoked(t, name, err)
				} else if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

// TestChainDepth: ten hops are carried; the eleventh is refused.
func TestChainDepth(t *testing.T) {
	e, _ := newRevocationEnv(t)
	c := e.assumeSID(t, "deep-session")
	var keys []string
	for i := range 10 {
		keys = append(keys, c.AccessKeyID)
		next, err := e.assumeRole(c, loopRole, "hop")
		if err != nil {
			t.Fatalf("hop %d: %v", i+1, err)
		}
		c = next
	}
	s := e.authenticate(t, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	if !slices.Equal(s.ParentAccessKeyIDs, keys) || len(s.ParentRoleARNs) != 10 || s.ParentRoleARNs[0] != e.roleARN() ||
		s.ParentRoleARNs[9] != loopRole || len(s.ParentIssuedAt) != 10 || s.SessionID != "deep-session" {
		t.Fatalf("ancestry of the tenth hop: %+v", s)
	}
	before := e.svc.Issued()
	_, err := e.assumeRole(c, loopRole, "hop")
	code, msg, status := apiErr(t, err)
	if code != "ValidationError" || status != 400 || !strings.Contains(msg, "limited to 10 hops") {
		t.Errorf("eleventh hop: %s %d %q", code, status, msg)
	}
	if e.svc.Issued() != before {
		t.Error("credentials minted")
	}
	if ev := e.lastEvent(t); ev.Outcome != "denied" || ev.Code != "ValidationError" || ev.SessionID != "deep-session" {
		t.Errorf("audit %+v", ev)
	}
}

// TestSessionIDClaim: the sid claim is carried when it is 1 to 256
// printable ASCII characters, and the token refused otherwise; it is not
// counted in PackedPolicySize (it is not a session tag).
func TestSessionIDClaim(t *testing.T) {
	e, _ := newRevocationEnv(t)
	for _, tc := range []struct {
		name string
		sid  any
		want string // "" with ok false: refused
		ok   bool
	}{
		{"absent", nil, "", true},
		{"uuid", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"256 characters", strings.Repeat("s", 256), strings.Repeat("s", 256), true},
		{"257 characters", strings.Repeat("s", 257), "", false},
		{"empty", "", "", false},
		{"space", "a b", "", false},
		{"control", "a\nb", "", false},
		{"non-ASCII", "sitzung-ü", "", false},
		{"number", 42, "", false},
		{"list", []string{"a"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			over := map[string]any{}
			if tc.sid != nil {
				over["sid"] = tc.sid
			}
			out, err := e.client(nil).AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String(e.roleARN()), RoleSessionName: aws.String("sid"), WebIdentityToken: aws.String(e.iss.token(t, e.clk.Now(), over))})
			if !tc.ok {
				code, msg, status := apiErr(t, err)
				if code != "InvalidIdentityToken" || status != 400 || msg != "Invalid web identity token" {
					t.Errorf("%s %d %q", code, status, msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := e.authenticate(t, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
			if s.SessionID != tc.want {
				t.Errorf("SessionID %q, want %q", s.SessionID, tc.want)
			}
		})
	}

	tags := map[string]any{"principal_tags": map[string]any{"team": []string{"platform"}}}
	packed := func(sid string) int32 {
		over := map[string]any{"https://aws.amazon.com/tags": tags}
		if sid != "" {
			over["sid"] = sid
		}
		out, err := e.client(nil).AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String(e.taggedARN()), RoleSessionName: aws.String("packed"), WebIdentityToken: aws.String(e.iss.token(t, e.clk.Now(), over))})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToInt32(out.PackedPolicySize)
	}
	if with, without := packed(strings.Repeat("s", 256)), packed(""); with != without || without == 0 {
		t.Errorf("PackedPolicySize %d with a session id, %d without", with, without)
	}
}

// TestSAMLSessionIndex: a SAML session's credentials carry the assertion's
// SessionIndex and are revoked with it.
func TestSAMLSessionIndex(t *testing.T) {
	rv := &revoker{}
	e := newSAMLEnvWith(t, func(cfg *sts.Config) { cfg.Revocations = rv })
	a := e.baseAssertion()
	a.SessionIndex = "_b07b804c-7c29-ea16-7300-4f3d6f7928ac"
	e.ver.set(a, nil)
	out, err := e.call(t, samlRole, nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}
	s := e.authenticate(t, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	if s.SessionID != a.SessionIndex || s.Provider != samlProv {
		t.Fatalf("session %+v", s)
	}
	nb := e.clk.Now().Truncate(time.Second).Add(time.Second)
	rv.revoke(func(c sts.RevocationSubject) bool { return c.SessionID == a.SessionIndex && issuedBefore(c, nb) })
	wantRevoked(t, "SAML session's credentials", e.callerIdentity(creds))

	// An assertion without SessionIndex: no session id.
	e.clk.Advance(time.Second)
	e.ver.set(e.baseAssertion(), nil)
	out, err = e.call(t, samlRole, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := e.authenticate(t, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken); s.SessionID != "" {
		t.Errorf("SessionID %q without SessionIndex", s.SessionID)
	}
}
