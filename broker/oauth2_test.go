package broker

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The CLI's OAuth server on a settable clock: expiries, the re-check and
// the end of the browser session, concurrent redemptions, the wrong-code
// buckets, the polling interval. (cmd/idbroker's e2e tests drive the
// flows with x/oauth2 against the real server.)

const testRedirect = "http://127.0.0.1:49152/callback"

// cliPost posts a form as the CLI does: no cookies.
func (b *sessionBroker) cliPost(t *testing.T, path string, form url.Values) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, b.pub+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	b.s.ServeHTTP(rec, req)
	out := map[string]any{}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: %d, not JSON: %s", path, rec.Code, rec.Body)
	}
	return rec, out
}

// from sends a browser's request from the client address addr.
func (b *testBrowser) from(addr, method, path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, b.base+path, strings.NewReader(form.Encode()))
	req.RemoteAddr = addr
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.s.ServeHTTP(rec, req)
	b.absorb(rec)
	return rec
}

var consentFieldRE = regexp.MustCompile(`name="consent" value="([^"]+)"`)

// loopbackCode runs authorize and Allow in a signed-in browser and
// returns the code of the redirect.
func loopbackCode(t *testing.T, br *testBrowser, verifier string) string {
	t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {CLIClientID}, "redirect_uri": {testRedirect}, "state": {"st"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	page := br.get("/oauth2/authorize?" + q.Encode())
	m := consentFieldRE.FindStringSubmatch(page.Body.String())
	if page.Code != http.StatusOK || m == nil {
		t.Fatalf("authorize: %d\n%s", page.Code, page.Body)
	}
	rec := br.post("/oauth2/authorize", url.Values{"csrf_token": {formTokenRE.FindStringSubmatch(page.Body.String())[1]}, "consent": {m[1]}, "decision": {"allow"}})
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("allow: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	return loc.Query().Get("code")
}

func codeForm(code, verifier string) url.Values {
	return url.Values{"grant_type": {GrantTypeAuthorizationCode}, "client_id": {CLIClientID}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
}

func TestCheckLoopbackRedirect(t *testing.T) {
	for _, ok := range []string{
		"http://127.0.0.1:1/", "http://127.0.0.1:65535/callback", "http://[::1]:8080/callback", "http://127.0.0.1:5000",
		"http://127.0.0.1:5000/oauth2/cb%20x", "http://127.0.0.1:5000/a/b/",
	} {
		if _, err := checkLoopbackRedirect(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "http://localhost:5000/", "https://127.0.0.1:5000/", "HTTP://127.0.0.1:5000/", "http://127.0.0.1/", "http://127.0.0.1:/",
		"http://127.0.0.1:0/", "http://127.0.0.1:65536/", "http://127.0.0.1:05000/", "http://127.0.0.1:+500/", "http://127.1:5000/",
		"http://127.0.0.2:5000/", "http://[::ffff:127.0.0.1]:5000/", "http://[0:0:0:0:0:0:0:1]:5000/", "http://[::1%25lo]:5000/",
		"http://u:p@127.0.0.1:5000/", "http://127.0.0.1:5000@evil.example/", "http://127.0.0.1:5000/?a=b", "http://127.0.0.1:5000/#f",
		"http://127.0.0.1:5000/\\evil", "http://127.0.0.1:5000/a b", "http://127.0.0.1:5000/\x00", "http://127.0.0.1:5000/é",
		"http://127.0.0.1:5000/../x", "http://127.0.0.1:5000/a/./b", "//127.0.0.1:5000/", "http://127.0.0.1.evil.example:5000/",
		"http://127.0.0.1:5000/" + strings.Repeat("a", maxRedirectURI),
	} {
		if _, err := checkLoopbackRedirect(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUserCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 500 {
		c, err := newUserCode()
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := normalizeUserCode(c); !ok || n != c {
			t.Fatalf("%q does not normalize to itself", c)
		}
		seen[c] = true
	}
	if len(seen) < 499 {
		t.Errorf("%d distinct codes in 500", len(seen))
	}
	for in, want := range map[string]string{"BCDF-GHJK": "BCDFGHJK", "bcdfghjk": "BCDFGHJK", " bcdf-GHJK ": "BCDFGHJK", "bcdf ghjk": "BCDFGHJK"} {
		if got, ok := normalizeUserCode(in); !ok || got != want {
			t.Errorf("%q: %q %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "BCDF_GHJK", "ВCDF-GHJK"} {
		if _, ok := normalizeUserCode(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestAuthorizationCodeLifetime: a code is good for 60 seconds.
func TestAuthorizationCodeLifetime(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	br, _ := b.signInBrowser(t, "alice")
	v := oauth2.GenerateVerifier()
	code := loopbackCode(t, br, v)
	b.clk.add(authzCodeTTL)
	if rec, out := b.cliPost(t, "/oauth2/token", codeForm(code, v)); rec.Code != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("after 60 s: %d %v", rec.Code, out)
	}
	if ev := b.auditEvents(t, "oauth2.code_refused"); len(ev) != 1 || ev[0]["reason"] != "code expired" {
		t.Errorf("audit %v", ev)
	}
	code = loopbackCode(t, br, v)
	b.clk.add(authzCodeTTL - time.Second)
	if rec, out := b.cliPost(t, "/oauth2/token", codeForm(code, v)); rec.Code != http.StatusOK || out["access_token"] == nil {
		t.Fatalf("after 59 s: %d %v", rec.Code, out)
	}
}

// TestCLISessionFromBrowser: the CLI's session is made from the browser
// session's identity as the upstream reads it now (a re-check when due)
// and ends when the browser session would have; a person gone upstream
// gets no CLI session and the browser session ends.
func TestCLISessionFromBrowser(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{Duration: time.Hour})
	br, _ := b.signInBrowser(t, "alice")
	b.clk.add(30 * time.Minute)
	v := oauth2.GenerateVerifier()
	before := b.dir.refresh.Load()
	rec, out := b.cliPost(t, "/oauth2/token", codeForm(loopbackCode(t, br, v), v))
	if rec.Code != http.StatusOK || out["expires_in"] != float64(30*60) || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("token: %d %v %v", rec.Code, out, rec.Header())
	}
	if b.dir.refresh.Load() != before+1 {
		t.Error("the browser session was not re-checked before the CLI's was made")
	}
	token := out["access_token"].(string)
	if rec, _ := b.credentials(t, token, `{}`); rec.Code != http.StatusOK {
		t.Fatalf("credentials: %d %s", rec.Code, rec.Body)
	}
	b.clk.add(30 * time.Minute)
	if rec, out := b.request(t, http.MethodGet, "/api/v1/sessions/current", token, "", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("the CLI's session outlived the browser's: %d %v", rec.Code, out)
	}

	br, _ = b.signInBrowser(t, "olga")
	b.clk.add(6 * time.Minute) // past the re-check interval
	code := loopbackCode(t, br, v)
	b.dir.setUsers(t, map[string][]string{"alice": {"developers"}})
	if rec, out := b.cliPost(t, "/oauth2/token", codeForm(code, v)); rec.Code != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("person gone upstream: %d %v", rec.Code, out)
	}
	if page := br.get("/portal"); page.Code != http.StatusForbidden {
		t.Errorf("the browser session of a person gone upstream: %d", page.Code)
	}
}

// TestAuthorizationCodeConcurrent: of many redemptions of one code at once
// exactly one gets a token, and the session it made is ended (the code was
// used more than once) and its credentials revoked.
func TestAuthorizationCodeConcurrent(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	br, _ := b.signInBrowser(t, "alice")
	v := oauth2.GenerateVerifier()
	code := loopbackCode(t, br, v)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens []string
		codes  = map[int]int{}
	)
	for range 16 {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodPost, b.pub+"/oauth2/token", strings.NewReader(codeForm(code, v).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			b.s.ServeHTTP(rec, req)
			var out map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			mu.Lock()
			defer mu.Unlock()
			codes[rec.Code]++
			if tok, ok := out["access_token"].(string); ok {
				tokens = append(tokens, tok)
			}
		})
	}
	wg.Wait()
	if codes[http.StatusOK] > 1 || codes[http.StatusOK]+codes[http.StatusBadRequest] != 16 {
		t.Fatalf("answers %v", codes)
	}
	for _, tok := range tokens {
		if rec, _ := b.request(t, http.MethodGet, "/api/v1/sessions/current", tok, "", ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("the session of a code used 16 times lives: %d", rec.Code)
		}
	}
	if len(tokens) == 1 && len(b.revoker.revoked()) != 1 {
		// Ended and revoked once, however many uses came after the first.
		t.Errorf("revoked %v", b.revoker.revoked())
	}
}

// deviceAuth asks for a device code as the CLI does.
func (b *sessionBroker) deviceAuth(t *testing.T, name string) (deviceCode, userCode string) {
	t.Helper()
	rec, out := b.cliPost(t, "/oauth2/device_authorization", url.Values{"client_id": {CLIClientID}, "device_name": {name}})
	if rec.Code != http.StatusOK {
		t.Fatalf("device authorization: %d %v", rec.Code, out)
	}
	return out["device_code"].(string), out["user_code"].(string)
}

func (b *sessionBroker) poll(t *testing.T, deviceCode string) (int, string) {
	t.Helper()
	rec, out := b.cliPost(t, "/oauth2/token", url.Values{"grant_type": {GrantTypeDeviceCode}, "client_id": {CLIClientID}, "device_code": {deviceCode}})
	e, _ := out["error"].(string)
	return rec.Code, e
}

// enterCode posts a user code from addr; it returns the answer.
func enterCode(br *testBrowser, addr, code string) *httptest.ResponseRecorder {
	page := br.from(addr, http.MethodGet, "/device", nil)
	return br.from(addr, http.MethodPost, "/device", url.Values{"csrf_token": {formTokenRE.FindStringSubmatch(page.Body.String())[1]}, "user_code": {code}})
}

// decideCode enters code and answers the approval page with decision.
func decideCode(t *testing.T, br *testBrowser, code, decision string) *httptest.ResponseRecorder {
	t.Helper()
	page := enterCode(br, "192.0.2.1:1234", code)
	m := choiceRE.FindStringSubmatch(page.Body.String())
	if page.Code != http.StatusOK || m == nil {
		t.Fatalf("code %s: %d\n%s", code, page.Code, page.Body)
	}
	return br.post("/device", url.Values{"csrf_token": {formTokenRE.FindStringSubmatch(page.Body.String())[1]}, "choice": {m[1]}, "decision": {decision}})
}

// TestDeviceExpiry: a request waits 10 minutes: then polls are
// expired_token, the code is not valid any more, and an approval page
// opened before is refused; once its record is gone, invalid_grant.
func TestDeviceExpiry(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	br, _ := b.signInBrowser(t, "alice")
	dc, uc := b.deviceAuth(t, "box")
	page := enterCode(br, "192.0.2.1:1234", uc)
	m := choiceRE.FindStringSubmatch(page.Body.String())
	if page.Code != http.StatusOK || m == nil {
		t.Fatalf("code: %d\n%s", page.Code, page.Body)
	}
	b.clk.add(deviceCodeTTL)
	if status, e := b.poll(t, dc); status != http.StatusBadRequest || e != "expired_token" {
		t.Errorf("poll after 10 minutes: %d %s", status, e)
	}
	rec := br.post("/device", url.Values{"csrf_token": {formTokenRE.FindStringSubmatch(page.Body.String())[1]}, "choice": {m[1]}, "decision": {"approve"}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "expired") {
		t.Errorf("approval after 10 minutes: %d\n%s", rec.Code, rec.Body)
	}
	if rec := enterCode(br, "192.0.2.1:1234", uc); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), msgUserCodeInvalid) {
		t.Errorf("the expired code: %d", rec.Code)
	}
	b.clk.add(deviceRecordGrace)
	if status, e := b.poll(t, dc); status != http.StatusBadRequest || e != "invalid_grant" {
		t.Errorf("poll once the record is gone: %d %s", status, e)
	}
}

// TestDevicePollInterval: a poll that comes before the interval has
// passed since the last poll answered authorization_pending (less a second
// of leeway) is slow_down, and each slow_down adds 5 seconds to the
// interval the broker keeps.
func TestDevicePollInterval(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	dc, _ := b.deviceAuth(t, "")
	steps := []struct {
		wait time.Duration
		want string
	}{
		{0, "authorization_pending"},               // t0, interval 5 s
		{time.Second, "slow_down"},                 // interval 10 s
		{4 * time.Second, "authorization_pending"}, // t0+5: 5 s after t0, within the leeway
		{5 * time.Second, "slow_down"},             // t0+10: 5 s after t0+5; interval 15 s
		{5 * time.Second, "authorization_pending"}, // t0+15: 10 s after t0+5, within the leeway
		{13 * time.Second, "slow_down"},            // t0+28: 13 s after t0+15
		{2 * time.Second, "authorization_pending"}, // t0+30: 15 s after t0+15
	}
	for i, st := range steps {
		b.clk.add(st.wait)
		if _, e := b.poll(t, dc); e != st.want {
			t.Fatalf("poll %d: %s, want %s", i+1, e, st.want)
		}
	}
}

// TestDeviceWrongCodeBuckets: wrong codes count per session and per client
// address, for 10 minutes.
func TestDeviceWrongCodeBuckets(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	_, uc := b.deviceAuth(t, "box")
	alice, _ := b.signInBrowser(t, "alice")
	olga, _ := b.signInBrowser(t, "olga")
	for i := range deviceWrongLimit {
		addr := []string{"198.51.100.1:1", "198.51.100.2:1", "198.51.100.3:1", "198.51.100.4:1", "198.51.100.5:1"}[i]
		if rec := enterCode(alice, addr, "BCDF-GHJK"); rec.Code != http.StatusBadRequest {
			t.Fatalf("wrong code %d: %d", i, rec.Code)
		}
	}
	if rec := enterCode(alice, "198.51.100.9:1", uc); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the session after five wrong codes, from a fresh address: %d", rec.Code)
	}
	if rec := enterCode(olga, "198.51.100.9:1", uc); rec.Code != http.StatusOK {
		t.Errorf("another session from another address: %d", rec.Code)
	}
	for range deviceWrongLimit {
		enterCode(olga, "[2001:db8::1]:1", "BCDF-GHJK")
	}
	carol, _ := b.signInBrowser(t, "alice")
	if rec := enterCode(carol, "[2001:db8::2]:1", uc); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a fresh session from the same /64: %d", rec.Code)
	}
	b.clk.add(deviceLimitWindow)
	_, uc = b.deviceAuth(t, "box")
	if rec := enterCode(alice, "198.51.100.9:1", uc); rec.Code != http.StatusOK {
		t.Errorf("the session 10 minutes later: %d", rec.Code)
	}
}

// TestDeviceApproverSignedOut: a request approved by a session that has
// ended since gets no token.
func TestDeviceApproverSignedOut(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	br, page := b.signInBrowser(t, "alice")
	dc, uc := b.deviceAuth(t, `<b>box</b>`)
	if rec := decideCode(t, br, uc, "approve"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "&lt;b&gt;box&lt;/b&gt;") {
		t.Fatalf("approve: %d\n%s", rec.Code, rec.Body)
	}
	if rec := br.post("/logout", url.Values{"csrf_token": {formTokenRE.FindStringSubmatch(page)[1]}}); rec.Code != http.StatusOK {
		t.Fatalf("sign out: %d", rec.Code)
	}
	if status, e := b.poll(t, dc); status != http.StatusBadRequest || e != "invalid_grant" {
		t.Errorf("poll after the approver signed out: %d %s", status, e)
	}
}

// TestResumeCookie: a browser sent to sign in carries its request in a
// sealed cookie (on https SameSite=None and Secure, so that a SAML IdP's
// cross-site post brings it to the ACS); a forged one ends on the role page.
func TestResumeCookie(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	br := newTestBrowser(b.s, b.pub)
	rec := br.get("/device?user_code=bcdf-ghjk")
	c := br.cookies[resumeCookie]
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" || c == nil ||
		!c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteNoneMode || c.Path != "/" || c.MaxAge != int(resumeTTL/time.Second) {
		t.Fatalf("%d %q cookie %+v", rec.Code, rec.Header().Get("Location"), c)
	}
	if strings.Contains(c.Value, "BCDF") {
		t.Error("the cookie shows the code in clear")
	}
	form := br.get("/login/corp")
	signIn := br.post("/login/corp", url.Values{"csrf_token": {formTokenRE.FindStringSubmatch(form.Body.String())[1]}, "username": {"alice"}, "password": {"pw"}})
	if signIn.Header().Get("Location") != "/device?user_code=BCDFGHJK" || br.cookies[resumeCookie] != nil {
		t.Errorf("after sign-in to %q, resume cookie %v", signIn.Header().Get("Location"), br.cookies[resumeCookie])
	}

	br = newTestBrowser(b.s, b.pub)
	br.cookies[resumeCookie] = &http.Cookie{Name: resumeCookie, Value: "forged"}
	form = br.get("/login/corp")
	signIn = br.post("/login/corp", url.Values{"csrf_token": {formTokenRE.FindStringSubmatch(form.Body.String())[1]}, "username": {"alice"}, "password": {"pw"}})
	if signIn.Header().Get("Location") != "/portal" {
		t.Errorf("forged resume cookie: to %q", signIn.Header().Get("Location"))
	}
}

// TestDeviceRequestLimit: an address may start 30 device requests in 10
// minutes; another address is not held back.
func TestDeviceRequestLimit(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	for range deviceRequestLimit {
		b.deviceAuth(t, "")
	}
	rec, out := b.cliPost(t, "/oauth2/device_authorization", url.Values{"client_id": {CLIClientID}})
	if rec.Code != http.StatusTooManyRequests || out["error"] != "slow_down" || out["device_code"] != nil {
		t.Fatalf("request %d: %d %v", deviceRequestLimit+1, rec.Code, out)
	}
	req := httptest.NewRequest(http.MethodPost, b.pub+"/oauth2/device_authorization", strings.NewReader("client_id="+CLIClientID))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "198.51.100.7:1"
	other := httptest.NewRecorder()
	b.s.ServeHTTP(other, req)
	if other.Code != http.StatusOK {
		t.Errorf("another address: %d %s", other.Code, other.Body)
	}
	b.clk.add(deviceLimitWindow)
	b.deviceAuth(t, "")
}

// TestDeviceLookupsAtOnce: look-ups sent at once cannot all pass the
// wrong-code check before any is counted: each is counted first, and a
// session gets at most 10 in the window, right or wrong.
func TestDeviceLookupsAtOnce(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example", Sessions{})
	br, _ := b.signInBrowser(t, "alice")
	page := br.get("/device")
	csrf := formTokenRE.FindStringSubmatch(page.Body.String())[1]
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
	)
	for i := range 40 {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodPost, b.pub+"/device", strings.NewReader(url.Values{"csrf_token": {csrf}, "user_code": {"BCDF-GHJK"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr = "198.51.100.1:" + strconv.Itoa(1000+i)
			for _, c := range br.cookies {
				req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			}
			rec := httptest.NewRecorder()
			b.s.ServeHTTP(rec, req)
			mu.Lock()
			codes[rec.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusBadRequest] > deviceLookupsSession || codes[http.StatusBadRequest]+codes[http.StatusTooManyRequests] != 40 {
		t.Errorf("answers %v: more than %d codes were looked up", codes, deviceLookupsSession)
	}

	// Right codes count too.
	b.clk.add(deviceLimitWindow)
	for i := range deviceLookupsSession {
		_, uc := b.deviceAuth(t, "")
		if rec := enterCode(br, "198.51.100.2:1", uc); rec.Code != http.StatusOK {
			t.Fatalf("right code %d: %d", i+1, rec.Code)
		}
	}
	_, uc := b.deviceAuth(t, "")
	if rec := enterCode(br, "198.51.100.2:1", uc); rec.Code != http.StatusTooManyRequests {
		t.Errorf("look-up %d: %d", deviceLookupsSession+1, rec.Code)
	}
}
