package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/internal/health"
	"github.com/idbroker/idbroker/internal/store/redistest"
	"github.com/idbroker/idbroker/ldapauth/ldaptest"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// readyzReport reads /readyz?verbose.
func readyzReport(t *testing.T, base string) (int, health.Report) {
	t.Helper()
	resp, err := http.Get(base + "/readyz?verbose")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep health.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatalf("/readyz?verbose: %d, not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, rep
}

func checkNamed(rep health.Report, name string) (health.Result, bool) {
	for _, r := range rep.Checks {
		if r.Name == name {
			return r, true
		}
	}
	return health.Result{}, false
}

// TestReadyzReportsProviders: /readyz answers from background checks of
// the store, the revocation set and each provider: an LDAP directory (the
// service bind), an OIDC issuer (discovery and JWKS) and a SAML IdP
// (metadata age). A directory that stops makes the broker degraded (still
// 200: the other providers work) and /readyz names it; when it is back the
// broker is ready again by itself. ?verbose is JSON with each check's
// state, and never the upstreams' own errors, hosts or credentials.
func TestReadyzReportsProviders(t *testing.T) {
	slapd := ldaptest.Start(t)
	issuer := newIdP(t)
	okta := samltest.NewIdP(t)
	cfg := fmt.Sprintf(`
account_id: "123456789012"
providers:%s
  - {name: sso, type: oidc, issuer: %s, client_id: test-client, client_secret: %s, timeout: 2s}
  - {name: okta, type: saml, idp_metadata_url: %s}
rules:
  - {name: devs, when: {groups_any: [developers]}, roles: [Developer]}
roles:
  - name: Developer
`, ldapProviderBlock(slapd.LDAPSURL, slapd.CAFile, ""), issuer.Issuer(), oidcClientSecret, okta.MetadataURL())
	ts := startServer(t, []byte(cfg))

	wantState := func(name, state string) health.Report {
		t.Helper()
		var rep health.Report
		pollUntil(t, 40*time.Second, name+" "+state, func() string {
			_, rep = readyzReport(t, ts.URL)
			if r, ok := checkNamed(rep, name); !ok || r.State != state {
				return fmt.Sprintf("%+v", rep)
			}
			return ""
		})
		return rep
	}
	for _, name := range []string{"provider corp", "provider sso", "provider okta"} {
		wantState(name, health.StateOK)
	}
	status, rep := readyzReport(t, ts.URL)
	if status != 200 || rep.Status != health.StatusReady {
		t.Fatalf("/readyz?verbose: %d %+v", status, rep)
	}
	kinds := map[string]string{"store": "memory", "revocations": "revocation set", "provider corp": "ldap", "provider sso": "oidc", "provider okta": "saml"}
	for name, kind := range kinds {
		r, ok := checkNamed(rep, name)
		if !ok || r.Kind != kind || r.CheckedAt == nil {
			t.Errorf("check %s: %+v (want kind %s, checked)", name, r, kind)
		}
	}
	if r, _ := checkNamed(rep, "provider okta"); r.Detail["metadata_age_seconds"] == nil {
		t.Errorf("the SAML check has no metadata age: %+v", r)
	}
	if r, _ := checkNamed(rep, "provider sso"); r.Detail["jwks_keys"] != float64(1) {
		t.Errorf("the OIDC check's keys: %+v", r)
	}
	if status, body := getBody(t, ts.URL+"/readyz"); status != 200 || body != "ready\n" {
		t.Errorf("/readyz: %d %q", status, body)
	}

	// The directory stops: degraded, named; the rest stays ok.
	slapd.Stop()
	rep = wantState("provider corp", health.StateFailing)
	if r, _ := checkNamed(rep, "provider corp"); r.Reason != "unreachable" {
		t.Errorf("the failing directory's reason: %+v", r)
	}
	status, body := getBody(t, ts.URL+"/readyz")
	if status != 200 || body != "ready, degraded: provider corp (unreachable)\n" {
		t.Errorf("/readyz with the directory down: %d %q", status, body)
	}
	_, verbose := getBody(t, ts.URL+"/readyz?verbose")
	port := slapd.LDAPSURL[strings.LastIndex(slapd.LDAPSURL, ":")+1:]
	for _, secret := range []string{ldaptest.BindPassword, ldaptest.BindDN, ":" + port, "connection refused", oidcClientSecret} {
		if strings.Contains(verbose, secret) {
			t.Errorf("/readyz?verbose shows %q:\n%s", secret, verbose)
		}
	}
	if !strings.Contains(ts.Logs.String(), "health check failing") {
		t.Errorf("the failing check is not in the log")
	}
	// The issuer's JWKS fails too.
	issuer.SetFault(oidctest.JWKS, oidctest.Fault{Status: 500})
	wantState("provider sso", health.StateFailing)
	if status, body := getBody(t, ts.URL+"/readyz"); status != 200 || !strings.Contains(body, "provider sso (unreachable)") || !strings.Contains(body, "provider corp (unreachable)") {
		t.Errorf("/readyz with two providers down: %d %q", status, body)
	}

	// Both come back: ready again, without a restart.
	if err := slapd.Restart(); err != nil {
		t.Fatal(err)
	}
	issuer.SetFault(oidctest.JWKS, oidctest.Fault{})
	wantState("provider corp", health.StateOK)
	wantState("provider sso", health.StateOK)
	if status, body := getBody(t, ts.URL+"/readyz"); status != 200 || body != "ready\n" {
		t.Errorf("/readyz after recovery: %d %q", status, body)
	}
	if !strings.Contains(ts.Logs.String(), "health check recovered") {
		t.Errorf("the recovery is not in the log")
	}
}

// TestHealthcheckCommand: idbroker healthcheck exits 0 with the answer of a
// ready broker, 1 when it is not ready or does not answer, 2 on misuse.
func TestHealthcheckCommand(t *testing.T) {
	ts := startServer(t, configs.Demo)
	// A broker whose Redis has stopped is not ready.
	rs := redistest.Start(t)
	down := startServer(t, []byte(strings.Replace(string(configs.Demo), "store: {type: memory}", fmt.Sprintf("store: {type: redis, url: %q}", rs.URL), 1)))
	rs.Stop()
	pollUntil(t, 20*time.Second, "the broker without Redis not ready", func() string {
		if status, body := getBody(t, down.URL+"/readyz"); status != 503 {
			return fmt.Sprintf("%d %s", status, body)
		}
		return ""
	})
	notReady := down.URL
	for _, tc := range []struct {
		name string
		args []string
		code int
		say  string
	}{
		{"ready", []string{"--url", ts.URL + "/readyz"}, 0, "ready"},
		{"liveness", []string{"--url", ts.URL + "/healthz"}, 0, "ok"},
		{"not ready", []string{"--url", notReady + "/readyz"}, 1, "503 not ready: store (unreachable)"},
		{"nobody there", []string{"--url", "http://" + freeAddr(t) + "/readyz", "--timeout", "2s"}, 1, "no answer"},
		{"not a URL", []string{"--url", "ftp://x/readyz"}, 2, "not an http:// or https:// URL"},
		{"insecure elsewhere", []string{"--url", "https://idbroker.example.org/readyz", "--insecure"}, 2, "loopback address only"},
		{"stray argument", []string{"now"}, 2, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := run(context.Background(), append([]string{"healthcheck"}, tc.args...), nil, &out, &errOut)
			if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.say) {
				t.Errorf("exit %d, want %d; %q not in:\n%s%s", code, tc.code, tc.say, out.String(), errOut.String())
			}
		})
	}
}
