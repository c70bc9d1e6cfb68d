package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/internal/store/redistest"
	"github.com/idbroker/idbroker/ldapauth/ldaptest"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// Issuance rate limits (the limits block) as clients meet them: the JSON
// API and the portal answer 429 with Retry-After, the STS 400 Throttling
// "Rate exceeded" as AWS does; a throttled request issues nothing and uses
// nothing up; each burst is audited once; replicas share the limits.

// withLimits appends a limits block to a configuration.
func withLimits(cfg []byte, block string) []byte {
	return append(append([]byte{}, cfg...), []byte("\nlimits:\n"+block)...)
}

// scrape returns the metrics listener's exposition.
func scrape(t *testing.T, metricsURL string) string {
	t.Helper()
	if metricsURL == "" {
		t.Fatal("no metrics listener")
	}
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	return string(raw)
}

// metricValue is the value of one series (name with its labels, as
// exposed) or -1 when absent.
func metricValue(t *testing.T, exposition, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`).FindStringSubmatch(exposition)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// countEvents counts the log lines of one audit event (JSON or text).
func countEvents(logs, event string) int {
	return strings.Count(logs, `"event":"`+event+`"`) + strings.Count(logs, " event="+event+" ")
}

// TestLimitsJSONAPIAndPortal: two issuances per person per hour. The third
// of the JSON API is 429 Throttling with Retry-After, nothing is issued,
// and the burst is audited once; another person is not limited; the
// portal's third is a 429 page with Retry-After.
func TestLimitsJSONAPIAndPortal(t *testing.T) {
	ts := startServer(t, withLimits(configs.Demo, "  per_user: {rate: 2, per: 1h}\n"))
	token, _ := newSession(t, ts.URL, "demo", "alice", "alice")
	credentials := func(bearer string) (int, map[string]any, http.Header) {
		t.Helper()
		return sessionAPI(t, http.MethodPost, ts.URL+"/api/v1/credentials", bearer, "application/json", `{"role":"Developer"}`)
	}
	for i := range 2 {
		if status, out, _ := credentials(token); status != 200 {
			t.Fatalf("issuance %d: %d %v", i+1, status, out)
		}
	}
	before := ts.issued(t)
	for i := range 3 {
		status, out, h := credentials(token)
		retry, err := strconv.Atoi(h.Get("Retry-After"))
		if status != http.StatusTooManyRequests || errCode(out) != "Throttling" || err != nil || retry < 1 || retry > 1800 {
			t.Fatalf("throttled issuance %d: %d %v Retry-After %q", i+1, status, out, h.Get("Retry-After"))
		}
	}
	if n := ts.issued(t); n != before {
		t.Errorf("throttled requests minted %d credentials", n-before)
	}
	if n := countEvents(ts.Logs.String(), "issue.throttled"); n != 1 {
		t.Errorf("%d issue.throttled audit records for one burst, want 1", n)
	}
	bob, _ := newSession(t, ts.URL, "demo", "bob", "bob")
	if status, out, _ := credentials(bob); status != 200 {
		t.Fatalf("another person: %d %v", status, out)
	}
	m := scrape(t, ts.MetricsURL)
	if v := metricValue(t, m, `idbroker_throttles_total{limit="user",surface="api"}`); v != 3 {
		t.Errorf("throttles counted: %v, want 3", v)
	}

	// The portal: alice's sessions share her limit; bob has one left.
	b := newBrowser(t, ts.URL)
	if status, _, _ := b.signIn("demo", "bob", "bob"); status != 200 {
		t.Fatalf("bob's sign-in: %d", status)
	}
	_, chooser := b.get("/portal")
	if status, page, _ := b.choose(chooser, developerARN); status != 200 || !strings.Contains(page, "assumed-role/Developer/bob") {
		t.Fatalf("bob's second issuance at the portal: %d", status)
	}
	_, chooser = b.get("/portal")
	status, page, resp := b.choose(chooser, developerARN)
	if status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") ||
		!strings.Contains(page, "Too many credentials") {
		t.Fatalf("bob's third issuance at the portal: %d Retry-After %q\n%s", status, resp.Header.Get("Retry-After"), page)
	}
	// The throttled form used nothing up: sent again, it is throttled
	// again, not refused as a used choice (409).
	if status, _, _ := b.choose(chooser, developerARN); status != http.StatusTooManyRequests {
		t.Errorf("the throttled form sent again: %d, want 429", status)
	}
}

// awsCLIWebIdentity runs Debian's AWS CLI assume-role-with-web-identity
// once (AWS_MAX_ATTEMPTS=1: botocore would retry Throttling), with nothing
// of the caller's AWS environment.
func awsCLIWebIdentity(t *testing.T, base, roleARN, token string) (int, string) {
	t.Helper()
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, awsCLI, "sts", "assume-role-with-web-identity", "--role-arn", roleARN,
		"--role-session-name", "cli", "--web-identity-token", token, "--endpoint-url", base, "--output", "json")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_REGION=us-east-1", "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	case err != nil:
		t.Fatalf("aws: %v", err)
	}
	return 0, out.String()
}

// TestLimitsSTSWithAWSClients: the STS's direct actions share one person's
// limit (three per hour): AssumeRoleWithWebIdentity with aws-sdk-go-v2 and
// Debian's AWS CLI, and AssumeRole chained from those credentials. Over
// the limit each client sees 400 Throttling "Rate exceeded", nothing is
// minted, and the burst is audited once; another subject is not limited.
func TestLimitsSTSWithAWSClients(t *testing.T) {
	needAWSClients(t)
	idp := oidctest.New(t)
	u, _ := url.Parse(idp.Issuer())
	ts := startServer(t, withLimits(stsChainConfig(idp.Issuer(), u.Host+u.Path), "  per_user: {rate: 3, per: 1h}\n"))
	e := &stsChainEnv{ts: ts, idp: idp}
	ctx := context.Background()
	token := func(sub string) string {
		claims := idp.Claims("ci-client")
		claims["sub"] = sub
		return idp.Sign(claims)
	}
	ciARN := "arn:aws:iam::123456789012:role/CI"

	ci, _ := e.session(t, "CI", "s1", "")                                                                                                            // 1
	if _, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("chained")}); err != nil { // 2
		t.Fatalf("AssumeRole within the limit: %v", err)
	}
	if code, out := awsCLIWebIdentity(t, ts.URL, ciARN, token("repo:acme/app")); code != 0 { // 3
		t.Fatalf("aws CLI within the limit: exit %d\n%s", code, out)
	}
	before := ts.issued(t)

	_, err := stsClient(ts.URL, nil).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(ciARN), RoleSessionName: aws.String("s4"), WebIdentityToken: aws.String(token("repo:acme/app")),
	})
	if code, msg, status := stsAPIErr(t, err); code != "Throttling" || msg != "Rate exceeded" || status != 400 {
		t.Errorf("aws-sdk-go-v2 over the limit: %s %q %d, want 400 Throttling \"Rate exceeded\"", code, msg, status)
	}
	if code, out := awsCLIWebIdentity(t, ts.URL, ciARN, token("repo:acme/app")); code == 0 ||
		!strings.Contains(out, "(Throttling)") || !strings.Contains(out, "Rate exceeded") {
		t.Errorf("aws CLI over the limit: exit %d\n%s", code, out)
	}
	_, err = ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("chained2")})
	if code, _, _ := stsAPIErr(t, err); code != "Throttling" {
		t.Errorf("AssumeRole chained from the throttled person: %s, want Throttling", code)
	}
	if n := ts.issued(t); n != before {
		t.Errorf("throttled requests minted %d credentials", n-before)
	}
	if n := strings.Count(ts.Logs.String(), `"code":"Throttling"`); n != 1 {
		t.Errorf("%d STS audit records with Throttling for one burst, want 1", n)
	}
	if code, out := awsCLIWebIdentity(t, ts.URL, ciARN, token("repo:acme/other")); code != 0 {
		t.Errorf("another subject: exit %d\n%s", code, out)
	}
	m := scrape(t, ts.MetricsURL)
	if v := metricValue(t, m, `idbroker_throttles_total{limit="user",surface="sts"}`); v != 3 {
		t.Errorf("throttles counted: %v, want 3", v)
	}
	if v := metricValue(t, m, `idbroker_sts_requests_total{action="AssumeRoleWithWebIdentity",code="Throttling"}`); v != 2 {
		t.Errorf("Throttling answers of AssumeRoleWithWebIdentity counted: %v, want 2", v)
	}
}

// TestLimitsSAMLAssertionKept: an assertion refused for throttling is not
// used up: once the limit admits again, the same assertion is redeemed.
func TestLimitsSAMLAssertionKept(t *testing.T) {
	idp := samltest.NewIdP(t)
	ts := startServer(t, withLimits(samlSTSConfig(idp.MetadataFile(t), false), "  per_role: {rate: 1, per: 2s}\n"))
	e := &stsSAMLEnv{ts: ts, idp: idp}
	ctx := context.Background()
	if _, err := e.assume(ctx, samlAdminARN, e.encode(t, stsSAMLSpec("alice")), nil); err != nil {
		t.Fatalf("the first assertion: %v", err)
	}
	kept := e.encode(t, stsSAMLSpec("alice"))
	_, err := e.assume(ctx, samlAdminARN, kept, nil)
	if code, _, _ := stsAPIErr(t, err); code != "Throttling" {
		t.Fatalf("the second assertion at once: %s, want Throttling", code)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := e.assume(ctx, samlAdminARN, kept, nil)
		if err == nil {
			break
		}
		if code, _, _ := stsAPIErr(t, err); code != "Throttling" || time.Now().After(deadline) {
			t.Fatalf("the throttled assertion later: %s (%v), want it redeemed", code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Redeemed once, it is used up as before.
	for {
		_, err := e.assume(ctx, samlAdminARN, kept, nil)
		code, _, _ := stsAPIErr(t, err)
		if code == "InvalidIdentityToken" {
			break
		}
		if code != "Throttling" || time.Now().After(deadline) {
			t.Fatalf("the assertion replayed: %s, want InvalidIdentityToken", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLimitsSharedAcrossReplicas: two processes on one Redis count one
// person's issuances together.
func TestLimitsSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	addr1, addr2 := freeAddr(t), freeAddr(t)
	base1, base2 := "http://"+addr1, "http://"+addr2
	path := replicaConfig(t, rs.URL, base1)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "\nlimits:\n  per_user: {rate: 2, per: 1h}\n")
	f.Close()
	p1 := startBrokerProcess(t, "serve", "--config", path, "--listen", addr1)
	p2 := startBrokerProcess(t, "serve", "--config", path, "--listen", addr2)
	waitReady(t, base1)
	waitReady(t, base2)

	token, _ := newSession(t, base1, "demo", "alice", "alice")
	for i, base := range []string{base1, base2} {
		if status, out, _ := sessionAPI(t, http.MethodPost, base+"/api/v1/credentials", token, "application/json", `{"role":"Developer"}`); status != 200 {
			t.Fatalf("issuance %d (replica %d): %d %v", i+1, i+1, status, out)
		}
	}
	for i, base := range []string{base1, base2} {
		status, out, h := sessionAPI(t, http.MethodPost, base+"/api/v1/credentials", token, "application/json", `{"role":"Developer"}`)
		if status != http.StatusTooManyRequests || errCode(out) != "Throttling" || h.Get("Retry-After") == "" {
			t.Fatalf("third issuance at replica %d: %d %v", i+1, status, out)
		}
	}
	if n1, n2 := countEvents(p1.stderr.String(), "issue.throttled"), countEvents(p2.stderr.String(), "issue.throttled"); n1 != 1 || n2 != 0 {
		t.Errorf("replicas audited %d and %d throttles, want 1 and 0 (one burst)", n1, n2)
	}
}

// TestLimitsLDAPIdentityAction: AssumeRoleWithLDAPIdentity, an STS action
// the broker serves, is limited by the broker once per request and
// answered as the STS answers: 400 Throttling "Rate exceeded", the burst
// audited once (issue.throttled), no per-request STS audit line.
func TestLimitsLDAPIdentityAction(t *testing.T) {
	_, ts := ldapServer(t, "limits:\n  per_user: {rate: 1, per: 1h}\n")
	carol := url.Values{"LDAPUsername": {"carol"}, "LDAPPassword": {ldaptest.Carol.Password}}
	if a := callLDAPIdentity(t, ts.URL, carol); a.status != 200 {
		t.Fatalf("within the limit: %d %s", a.status, a.body)
	}
	before := ts.issued(t)
	for i := range 3 {
		if a := callLDAPIdentity(t, ts.URL, carol); a.status != 400 || a.code != "Throttling" || a.message != "Rate exceeded" {
			t.Fatalf("over the limit (%d): %d %s", i+1, a.status, a.body)
		}
	}
	if ts.issued(t) != before {
		t.Error("a throttled request minted credentials")
	}
	logs := ts.Logs.String()
	if n := countEvents(logs, "issue.throttled"); n != 1 {
		t.Errorf("%d issue.throttled records for one burst, want 1", n)
	}
	if n := strings.Count(logs, `"code":"Throttling"`); n != 0 {
		t.Errorf("%d per-request STS audit lines for throttled requests, want none", n)
	}
}
