package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

// STS-SPEC §6.1: what AWS answers when the identity provider's keys cannot
// be retrieved, or hold no key for the token's kid.
const wantKeyUnavailableMsg = "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements"

const (
	faultsTimeout         = 500 * time.Millisecond
	faultsRefreshInterval = time.Second
)

// webIdentityFaultsConfig: one role trusting one sts.oidc_providers issuer
// with a short timeout and refresh interval.
func webIdentityFaultsConfig(issuer, hostPath string) []byte {
	return []byte(fmt.Sprintf(`
account_id: "123456789012"
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
rules:
  - {name: devs, when: {groups_any: [developers]}, roles: [Developer]}
roles:
  - name: Developer
  - name: CI
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "arn:aws:iam::123456789012:oidc-provider/%[2]s"}
          Action: sts:AssumeRoleWithWebIdentity
          Condition:
            StringEquals: {"%[2]s:aud": "ci-client"}
sts:
  oidc_providers:
    - issuer: %[1]s
      client_ids: [ci-client]
      timeout: %[3]s
      jwks_refresh_interval: %[4]s
`, issuer, hostPath, faultsTimeout, faultsRefreshInterval))
}

type webIdentityFaultsEnv struct {
	ts  *testServer
	idp *oidctest.Server
}

func newWebIdentityFaultsEnv(t *testing.T) *webIdentityFaultsEnv {
	t.Helper()
	idp := oidctest.New(t)
	u, _ := url.Parse(idp.Issuer())
	return &webIdentityFaultsEnv{ts: startServer(t, webIdentityFaultsConfig(idp.Issuer(), u.Host+u.Path)), idp: idp}
}

func (e *webIdentityFaultsEnv) claims() map[string]any {
	c := e.idp.Claims("ci-client")
	c["sub"] = "repo:acme/app"
	return c
}

func (e *webIdentityFaultsEnv) assume(token string) (*awssts.AssumeRoleWithWebIdentityOutput, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return stsClient(e.ts.URL, nil).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::123456789012:role/CI"),
		RoleSessionName:  aws.String("faults"),
		WebIdentityToken: aws.String(token),
	})
}

// wantRefused checks a 400 InvalidIdentityToken with message msg, and that
// no credentials were minted.
func (e *webIdentityFaultsEnv) wantRefused(t *testing.T, out *awssts.AssumeRoleWithWebIdentityOutput, err error, msg string, issuedBefore int) {
	t.Helper()
	if err == nil {
		t.Fatalf("credentials issued: %v", out.AssumedRoleUser)
	}
	var iit *ststypes.InvalidIdentityTokenException
	if !errors.As(err, &iit) {
		t.Fatalf("want InvalidIdentityTokenException, got %v", err)
	}
	if got := iit.ErrorMessage(); got != msg {
		t.Errorf("message = %q, want %q", got, msg)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("want HTTP 400, got %v", err)
	}
	if n := e.ts.issued(t); n != issuedBefore {
		t.Errorf("credentials issued: counter %d -> %d", issuedBefore, n)
	}
}

// TestWebIdentityJWKSFaultsE2E: AssumeRoleWithWebIdentity for an issuer of
// sts.oidc_providers whose JWKS fails (HTTP 500, hanging past the
// configured timeout, 3 MiB, not JSON) answers 400 InvalidIdentityToken
// with AWS's key-retrieval message within the timeout, mints nothing and
// logs no token; once the JWKS recovers, after the configured refresh
// interval, the same call succeeds (THREATS OIDC-20, STS-SPEC §6.1).
func TestWebIdentityJWKSFaultsE2E(t *testing.T) {
	cases := []struct {
		name  string
		fault oidctest.Fault
	}{
		{"HTTP 500", oidctest.Fault{Status: http.StatusInternalServerError}},
		{"hangs past the timeout", oidctest.Fault{Delay: 10 * time.Second}},
		{"3 MiB body", oidctest.Fault{BodySize: 3 << 20}},
		{"not JSON", oidctest.Fault{Body: []byte("<html><body>maintenance</body></html>")}},
		{"JSON without keys", oidctest.Fault{Body: []byte(`{"keys":[]}`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newWebIdentityFaultsEnv(t)
			e.idp.SetFault(oidctest.JWKS, tc.fault)
			token := e.idp.Sign(e.claims())
			before := e.ts.issued(t)
			start := time.Now()
			out, err := e.assume(token)
			if d := time.Since(start); d > faultsTimeout+2*time.Second {
				t.Errorf("answer took %v (timeout %v)", d, faultsTimeout)
			}
			e.wantRefused(t, out, err, wantKeyUnavailableMsg, before)
			if e.idp.Hits(oidctest.JWKS) == 0 {
				t.Error("JWKS never fetched")
			}
			// A long run of the padding: a short "aaaa" could occur inside
			// the answer's random request id.
			if strings.Contains(err.Error(), "maintenance") || strings.Contains(err.Error(), strings.Repeat("a", 32)) {
				t.Errorf("upstream body echoed: %.200s", err)
			}
			if !strings.Contains(e.ts.Logs.String(), "JWKS refresh failed") {
				t.Error("JWKS failure not logged")
			}
			// Within the refresh interval the outage is not retried, and
			// the answer stays the key-retrieval one.
			hits := e.idp.Hits(oidctest.JWKS)
			out, err = e.assume(token)
			e.wantRefused(t, out, err, wantKeyUnavailableMsg, before)
			if h := e.idp.Hits(oidctest.JWKS); h != hits {
				t.Errorf("JWKS fetched again within the refresh interval (%d -> %d)", hits, h)
			}
			// Recovery, without waiting for the 30 s default.
			e.idp.ClearFault(oidctest.JWKS)
			time.Sleep(faultsRefreshInterval + 50*time.Millisecond)
			fresh := e.idp.Sign(e.claims())
			out, err = e.assume(fresh)
			if err != nil {
				t.Fatalf("after recovery: %v", err)
			}
			if out.Credentials == nil || *out.SubjectFromWebIdentityToken != "repo:acme/app" {
				t.Errorf("after recovery: %+v", out)
			}
			if n := e.ts.issued(t); n != before+1 {
				t.Errorf("issued counter %d, want %d", n, before+1)
			}
			e.ts.assertNoSecrets(t, token, fresh)
		})
	}
}

// TestWebIdentityKeyNotFoundE2E: a kid the issuer's (reachable) key set does
// not hold is answered as AWS does, with the key-retrieval message (a
// removed key and a key that never was alike), and a new key published
// while the JWKS is down gets that answer too, not "Invalid web identity
// token"; a bad signature under a known kid stays "Invalid web identity
// token".
func TestWebIdentityKeyNotFoundE2E(t *testing.T) {
	e := newWebIdentityFaultsEnv(t)
	k1 := e.idp.CurrentKey()
	if _, err := e.assume(e.idp.Sign(e.claims())); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	evil := e.idp.NewKey("RS256")
	time.Sleep(faultsRefreshInterval + 50*time.Millisecond)
	steps := []struct {
		name  string
		setup func()
		token func() string
		msg   string
	}{
		{"unknown kid, JWKS reachable", nil, func() string {
			return e.idp.SignWith(evil, map[string]any{"kid": evil.KID, "typ": "JWT"}, e.claims())
		}, wantKeyUnavailableMsg},
		{"unknown kid, throttled after a good fetch", nil, func() string {
			return e.idp.SignWith(evil, map[string]any{"kid": "k-other", "typ": "JWT"}, e.claims())
		}, wantKeyUnavailableMsg},
		{"known kid, wrong key", nil, func() string {
			return e.idp.SignWith(evil, map[string]any{"kid": k1.KID, "typ": "JWT"}, e.claims())
		}, "Invalid web identity token"},
		{"new key while JWKS down", func() {
			e.idp.SetFault(oidctest.JWKS, oidctest.Fault{Status: http.StatusServiceUnavailable})
			e.idp.RotateKey()
			time.Sleep(faultsRefreshInterval + 50*time.Millisecond)
		}, func() string { return e.idp.Sign(e.claims()) }, wantKeyUnavailableMsg},
		{"new key while JWKS down, throttled", nil, func() string { return e.idp.Sign(e.claims()) }, wantKeyUnavailableMsg},
		{"removed key", func() {
			// The JWKS recovers without k1; the first token of the new key
			// has the set fetched again.
			e.idp.ClearFault(oidctest.JWKS)
			e.idp.RemoveKey(k1.KID)
			time.Sleep(faultsRefreshInterval + 50*time.Millisecond)
			if _, err := e.assume(e.idp.Sign(e.claims())); err != nil {
				t.Fatalf("new key after recovery: %v", err)
			}
		}, func() string {
			return e.idp.SignWith(k1, map[string]any{"kid": k1.KID, "typ": "JWT"}, e.claims())
		}, wantKeyUnavailableMsg},
	}
	var tokens []string
	for _, st := range steps {
		if st.setup != nil {
			st.setup()
		}
		t.Run(st.name, func(t *testing.T) {
			token := st.token()
			tokens = append(tokens, token)
			before := e.ts.issued(t)
			out, err := e.assume(token)
			e.wantRefused(t, out, err, st.msg, before)
		})
	}
	// The current key works.
	current := e.idp.Sign(e.claims())
	if _, err := e.assume(current); err != nil {
		t.Fatalf("current key: %v", err)
	}
	e.ts.assertNoSecrets(t, append(tokens, current)...)
}

// TestWebIdentityProviderConfig: timeout and jwks_refresh_interval of an
// sts.oidc_providers entry are validated, each error naming its key path.
func TestWebIdentityProviderConfig(t *testing.T) {
	cases := []struct {
		name, extra, want string
	}{
		{"defaults", "", ""},
		{"short values", "timeout: 100ms\n      jwks_refresh_interval: 100ms", ""},
		{"long values", "timeout: 1m\n      jwks_refresh_interval: 1h", ""},
		{"timeout too short", "timeout: 10ms", "sts.oidc_providers[0].timeout"},
		{"timeout too long", "timeout: 2m", "sts.oidc_providers[0].timeout"},
		{"timeout negative", "timeout: -1s", "sts.oidc_providers[0].timeout"},
		{"timeout not a duration", "timeout: soon", "timeout"},
		{"refresh too short", "jwks_refresh_interval: 1ms", "sts.oidc_providers[0].jwks_refresh_interval"},
		{"refresh too long", "jwks_refresh_interval: 25h", "sts.oidc_providers[0].jwks_refresh_interval"},
		{"refresh negative", "jwks_refresh_interval: -5s", "sts.oidc_providers[0].jwks_refresh_interval"},
		{"unknown key", "jwks_ttl: 5s", "jwks_ttl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := `
account_id: "123456789012"
roles:
  - name: Developer
sts:
  oidc_providers:
    - issuer: https://idp.example.com
      client_ids: [ci-client]
`
			if tc.extra != "" {
				doc += "      " + tc.extra + "\n"
			}
			_, err := parseConfig([]byte(doc), func(string) (string, bool) { return "", false })
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}
