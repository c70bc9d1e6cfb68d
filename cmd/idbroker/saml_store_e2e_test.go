package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store/redistest"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// TestSAMLSignInStoreDown: a browser comes back from the IdP with a good
// assertion while the broker's Redis is down. The assertion cannot be
// claimed (single use across replicas), so the sign-in is refused with 503
// and a page that says sign-in is unavailable — not that the IdP cannot be
// reached — and when Redis is back the same person signs in.
func TestSAMLSignInStoreDown(t *testing.T) {
	rs := redistest.Start(t)
	env := startSAMLBrokerWith(t, func(cfg string) string {
		return cfg + fmt.Sprintf("store: {type: redis, url: %q}\n", rs.URL)
	})
	client := samltest.NewBrowser(t)
	acs, response, relay, err := samltest.CaptureResponse(t, client, env.ts.URL+"/login/okta")
	if err != nil {
		t.Fatal(err)
	}
	rs.Stop()
	r := samlPostACS(t, client, acs, url.Values{"SAMLResponse": {response}, "RelayState": {relay}})
	r.refused(t, 503)
	if !strings.Contains(r.body, "Sign-in is unavailable right now") || strings.Contains(r.body, "identity provider cannot be reached") {
		t.Errorf("the page:\n%.600s", r.body)
	}
	rs.Restart(t)
	pollUntil(t, 20*time.Second, "a SAML sign-in after Redis is back", func() string {
		acs, response, relay, err := samltest.CaptureResponse(t, client, env.ts.URL+"/login/okta")
		if err != nil {
			return err.Error()
		}
		if r := samlPostACS(t, client, acs, url.Values{"SAMLResponse": {response}, "RelayState": {relay}}); !r.signedIn() {
			return fmt.Sprintf("%d %.200s", r.status, r.body)
		}
		return ""
	})
}
