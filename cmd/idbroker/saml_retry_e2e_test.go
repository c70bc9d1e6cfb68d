package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// AssumeRoleWithSAML retries (STS-SPEC §5.4): a call that the STS refuses
// for reasons outside the assertion (DurationSeconds above the role's
// maximum, a trust policy, the role pairing) does not use the assertion up;
// it is claimed only when credentials are about to be issued, once per role.

const (
	retryShortARN  = "arn:aws:iam::123456789012:role/RetryShort"
	retryOfficeARN = "arn:aws:iam::123456789012:role/RetryOffice"
	retryOfficeNet = "203.0.113.0/24"
	retryOfficeIP  = "203.0.113.9"
	retryOutsideIP = "198.51.100.7"
)

// samlRetryConfig: the SAML provider "corp"; RetryShort (maximum session
// one hour) trusts it; RetryOffice trusts it from retryOfficeNet only. The
// loopback peer is a trusted proxy so that tests choose the source address
// with X-Forwarded-For.
func samlRetryConfig(metadataFile string) []byte {
	return []byte(fmt.Sprintf(`
account_id: "%[1]s"
server:
  public_url: %[4]s
  trusted_proxies: ["127.0.0.1/32", "::1/128"]
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
rules:
  - {name: devs, when: {groups_any: [developers]}, roles: [Developer]}
roles:
  - name: Developer
  - name: RetryShort
    max_session_duration: 1h
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {Federated: "%[2]s"}, Action: sts:AssumeRoleWithSAML}
  - name: RetryOffice
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "%[2]s"}
          Action: sts:AssumeRoleWithSAML
          Condition:
            IpAddress: {"aws:SourceIp": "%[5]s"}
sts:
  saml_providers:
    - name: corp
      metadata_file: %[3]s
`, samlAcct, samlProviderARN, metadataFile, samlPublicURL, retryOfficeNet))
}

func newSAMLRetryEnv(t *testing.T) *stsSAMLEnv {
	t.Helper()
	idp := samltest.NewIdP(t)
	return &stsSAMLEnv{ts: startServer(t, samlRetryConfig(idp.MetadataFile(t))), idp: idp}
}

// forwardedFor is an aws-sdk-go-v2 HTTP client that says, as a trusted
// proxy would, that the request comes from ip.
type forwardedFor string

func (ip forwardedFor) Do(r *http.Request) (*http.Response, error) {
	if ip != "" {
		r.Header.Set("X-Forwarded-For", string(ip))
	}
	return http.DefaultClient.Do(r)
}

// assumeFrom calls AssumeRoleWithSAML through aws-sdk-go-v2 from the address from.
func (e *stsSAMLEnv) assumeFrom(ctx context.Context, from, roleARN, assertion string, duration *int32) (*awssts.AssumeRoleWithSAMLOutput, error) {
	c := awssts.New(awssts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(e.ts.URL),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
		HTTPClient:       forwardedFor(from),
	})
	return c.AssumeRoleWithSAML(ctx, &awssts.AssumeRoleWithSAMLInput{
		RoleArn: aws.String(roleARN), PrincipalArn: aws.String(samlProviderARN),
		SAMLAssertion: aws.String(assertion), DurationSeconds: duration,
	})
}

// samlRoles is the Role attribute value pairing each role with the provider.
func samlRoles(roles ...string) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		out = append(out, r+","+samlProviderARN)
	}
	return out
}

// TestSTSSAMLRetryAfterRefusal: each case redeems ONE assertion in
// sequence; a refusal leaves it usable, a success uses it up for that role,
// and only successes mint credentials.
func TestSTSSAMLRetryAfterRefusal(t *testing.T) {
	type step struct {
		role     string
		from     string // source address (X-Forwarded-For); "" = the loopback peer
		duration *int32
		wantCode string // "" = credentials issued
		wantMsg  string
	}
	const (
		replayMsg   = "Invalid SAML response"
		tooLongMsg  = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
		notAuthzMsg = "Not authorized to perform sts:AssumeRoleWithSAML"
	)
	cases := []struct {
		name  string
		roles []string // the assertion's Role attribute
		steps []step
	}{
		{name: "DurationSeconds above the role maximum, then without it, then a replay",
			roles: []string{retryShortARN},
			steps: []step{
				{role: retryShortARN, duration: aws.Int32(7200), wantCode: "ValidationError", wantMsg: tooLongMsg},
				{role: retryShortARN},
				{role: retryShortARN, wantCode: "InvalidIdentityToken", wantMsg: replayMsg},
				{role: retryShortARN, duration: aws.Int32(900), wantCode: "InvalidIdentityToken", wantMsg: replayMsg},
			}},
		{name: "DurationSeconds refused twice, then 3600, then a replay",
			roles: []string{retryShortARN},
			steps: []step{
				{role: retryShortARN, duration: aws.Int32(7200), wantCode: "ValidationError", wantMsg: tooLongMsg},
				{role: retryShortARN, duration: aws.Int32(3601), wantCode: "ValidationError", wantMsg: tooLongMsg},
				{role: retryShortARN, duration: aws.Int32(3600)},
				{role: retryShortARN, duration: aws.Int32(3600), wantCode: "InvalidIdentityToken", wantMsg: replayMsg},
			}},
		{name: "trust policy refuses the network, then the same role from the allowed one, then a replay",
			roles: []string{retryOfficeARN},
			steps: []step{
				{role: retryOfficeARN, from: retryOutsideIP, wantCode: "AccessDenied", wantMsg: notAuthzMsg},
				{role: retryOfficeARN, from: retryOfficeIP},
				{role: retryOfficeARN, from: retryOfficeIP, wantCode: "InvalidIdentityToken", wantMsg: replayMsg},
			}},
		{name: "trust policy refuses one role, then a role that trusts it, then replays",
			roles: []string{retryOfficeARN, retryShortARN},
			steps: []step{
				{role: retryOfficeARN, from: retryOutsideIP, wantCode: "AccessDenied", wantMsg: notAuthzMsg},
				{role: retryShortARN, from: retryOutsideIP},
				{role: retryShortARN, from: retryOfficeIP, wantCode: "InvalidIdentityToken", wantMsg: replayMsg},
				// The refused role was never redeemed: from the allowed
				// network it succeeds once.
				{role: retryOfficeARN, from: retryOfficeIP},
				{role: retryOfficeARN, from: retryOfficeIP, wantCode: "InvalidIdentityToken", wantMsg: replayMsg},
			}},
		{name: "role not paired in the assertion, then the paired role, then a replay",
			roles: []string{retryShortARN},
			steps: []step{
				{role: retryOfficeARN, from: retryOfficeIP, wantCode: "AccessDenied", wantMsg: notAuthzMsg},
				{role: retryShortARN},
				{role: retryShortARN, wantCode: "InvalidIdentityToken", wantMsg: replayMsg},
			}},
	}
	e := newSAMLRetryEnv(t)
	ctx := context.Background()
	var assertions []string
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := stsSAMLSpec(fmt.Sprintf("retry%d", i))
			spec.Attributes[0].Values = samlRoles(tc.roles...)
			assertion := e.encode(t, spec)
			assertions = append(assertions, assertion)
			for n, s := range tc.steps {
				before := e.issued(t)
				out, err := e.assumeFrom(ctx, s.from, s.role, assertion, s.duration)
				issued := e.issued(t) - before
				if s.wantCode == "" {
					if err != nil {
						t.Fatalf("step %d (%s): %v, want credentials", n+1, s.role, err)
					}
					if out.Credentials == nil || aws.ToString(out.Credentials.AccessKeyId) == "" {
						t.Fatalf("step %d: no credentials in the answer", n+1)
					}
					if issued != 1 {
						t.Fatalf("step %d: issued %d credentials, want 1", n+1, issued)
					}
					continue
				}
				if out != nil && out.Credentials != nil {
					t.Fatalf("step %d: credentials came back, want %s", n+1, s.wantCode)
				}
				code, msg, _ := stsAPIErr(t, err)
				if code != s.wantCode || msg != s.wantMsg {
					t.Fatalf("step %d (%s): got %s %q, want %s %q", n+1, s.role, code, msg, s.wantCode, s.wantMsg)
				}
				if issued != 0 {
					t.Fatalf("step %d: issued %d credentials on a refusal", n+1, issued)
				}
			}
		})
	}
	logs := e.ts.Logs.String()
	// Replays are refused by the STS's own claim, made after its checks.
	if !strings.Contains(logs, "assertion already redeemed for this role") {
		t.Error("no replay refusal by the STS's claim in the logs")
	}
	e.ts.assertNoSecrets(t, assertions...)
}

// TestSTSSAMLRetryConcurrent: after a refused call, two simultaneous
// redemptions of the same assertion for the same role -> exactly one
// success and one InvalidIdentityToken, one credential minted.
func TestSTSSAMLRetryConcurrent(t *testing.T) {
	e := newSAMLRetryEnv(t)
	ctx := context.Background()
	for round := range 5 {
		t.Run(fmt.Sprintf("round %d", round+1), func(t *testing.T) {
			spec := stsSAMLSpec(fmt.Sprintf("race%d", round))
			spec.Attributes[0].Values = samlRoles(retryShortARN)
			assertion := e.encode(t, spec)
			before := e.issued(t)
			_, err := e.assumeFrom(ctx, "", retryShortARN, assertion, aws.Int32(7200))
			if code, _, _ := stsAPIErr(t, err); code != "ValidationError" {
				t.Fatalf("DurationSeconds 7200: %s, want ValidationError", code)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, codes := 0, map[string]int{}
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					out, err := e.assumeFrom(ctx, "", retryShortARN, assertion, nil)
					mu.Lock()
					defer mu.Unlock()
					var ae smithy.APIError
					switch {
					case err == nil && out.Credentials != nil:
						ok++
					case errors.As(err, &ae):
						codes[ae.ErrorCode()]++
					default:
						codes[fmt.Sprintf("%v", err)]++
					}
				}()
			}
			close(start)
			wg.Wait()
			if ok != 1 || codes["InvalidIdentityToken"] != 1 {
				t.Fatalf("successes %d, refusals %v; want 1 and 1 InvalidIdentityToken", ok, codes)
			}
			if got := e.issued(t) - before; got != 1 {
				t.Fatalf("issued %d credentials, want 1", got)
			}
		})
	}
}
