package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/configs"
)

// The device authorization grant (RFC 8628) against the real server:
// x/oauth2's DeviceAuth and DeviceAccessToken are the CLI, and the person
// approves or denies on the broker's /device pages in a cookie-keeping
// HTTP client.

var (
	userCodeRE   = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)
	choiceFormRE = regexp.MustCompile(`name="choice" value="([^"]+)"`)
)

// enterCode posts a user code on the /device page the browser shows.
func (b *browser) enterCode(page, code string) (int, string) {
	b.t.Helper()
	status, body, _ := b.post("/device", url.Values{"csrf_token": {b.csrf(page)}, "user_code": {code}}, nil)
	return status, body
}

// decide answers the approval page with decision (approve or deny).
func (b *browser) decide(page, decision string) (int, string) {
	b.t.Helper()
	m := choiceFormRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no approval form in page:\n%s", page)
	}
	status, body, _ := b.post("/device", url.Values{"csrf_token": {b.csrf(page)}, "choice": {m[1]}, "decision": {decision}}, nil)
	return status, body
}

// pollDevice is one raw poll of the token endpoint with a device code.
func pollDevice(t *testing.T, base, deviceCode string) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth2/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {"idbroker-cli"}, "device_code": {deviceCode}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("poll: %d, not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// TestDeviceLogin: the device flow end to end. The CLI asks with its host
// name; the person opens verification_uri_complete, signs in (and comes
// back to the code), types it in lower case without the hyphen, sees which
// machine asked, approves; the CLI's poll gets a session token that works
// as a bearer. The token is delivered once, and the code cannot be
// approved again.
func TestDeviceLogin(t *testing.T) {
	ts := startServer(t, configs.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conf := cliConfig(ts.URL, "")

	da, err := conf.DeviceAuth(ctx, oauth2.SetAuthURLParam("device_name", "build-box-7"))
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if !userCodeRE.MatchString(da.UserCode) || da.VerificationURI != ts.URL+"/device" ||
		da.VerificationURIComplete != ts.URL+"/device?user_code="+da.UserCode || da.Interval != 5 ||
		time.Until(da.Expiry) < 9*time.Minute || time.Until(da.Expiry) > 10*time.Minute {
		t.Fatalf("answer %+v", da)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	polled := make(chan result, 1)
	go func() {
		tok, err := conf.DeviceAccessToken(ctx, da)
		polled <- result{tok, err}
	}()

	b := newBrowser(t, ts.URL)
	status, page, resp := b.getURL(da.VerificationURIComplete)
	if status != http.StatusOK || resp.Request.URL.Path != "/login/demo" { // the only provider's sign-in
		t.Fatalf("without a session: %d at %s", status, resp.Request.URL)
	}
	status, page, resp = b.signIn("demo", "bob", "bob")
	if status != http.StatusOK || resp.Request.URL.Path != "/device" || !strings.Contains(page, `value="`+da.UserCode+`"`) {
		t.Fatalf("after sign-in: %d at %s:\n%s", status, resp.Request.URL, page)
	}
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
	status, confirm := b.enterCode(page, " "+typed+" ")
	if status != http.StatusOK {
		t.Fatalf("code: %d\n%s", status, confirm)
	}
	for _, want := range []string{"build-box-7", "<code>127.0.0.1</code>", "<code>" + da.UserCode + "</code>", "<dt>Asked at</dt>", "<strong>bob</strong>"} {
		if !strings.Contains(confirm, want) {
			t.Errorf("approval page lacks %q:\n%s", want, confirm)
		}
	}
	if status, body := b.decide(confirm, "approve"); status != http.StatusOK || !strings.Contains(body, "is signed in as <strong>bob</strong>") {
		t.Fatalf("approve: %d\n%s", status, body)
	}

	var got result
	select {
	case got = <-polled:
	case <-ctx.Done():
		t.Fatal("the CLI's polling never ended")
	}
	if got.err != nil || got.tok.TokenType != "Bearer" || got.tok.AccessToken == "" {
		t.Fatalf("token: %v %+v", got.err, got.tok)
	}
	status, creds, _ := sessionAPI(t, http.MethodPost, ts.URL+"/api/v1/credentials", got.tok.AccessToken, "application/json", `{"role":"Admin"}`)
	if status != http.StatusOK {
		t.Fatalf("credentials with the device's token: %d %v", status, creds)
	}
	if arn := callerARN(t, ts.URL, creds["AccessKeyId"].(string), creds["SecretAccessKey"].(string), creds["SessionToken"].(string)); arn != "arn:aws:sts::123456789012:assumed-role/Admin/bob" {
		t.Errorf("caller %s", arn)
	}

	// Delivered once; approved once.
	if status, out := pollDevice(t, ts.URL, da.DeviceCode); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("a poll after the delivery: %d %v", status, out)
	}
	if status, body := b.decide(confirm, "approve"); status != http.StatusConflict || !strings.Contains(body, "approved or denied already") {
		t.Errorf("the approval again: %d\n%s", status, body)
	}
	_, entry := b.get("/device")
	if status, body := b.enterCode(entry, da.UserCode); status != http.StatusBadRequest || !strings.Contains(body, "That code is not valid") {
		t.Errorf("the used code again: %d\n%s", status, body)
	}

	logs := ts.Logs.String()
	for _, ev := range []string{`"event":"oauth2.device_requested"`, `"event":"oauth2.device_approved"`, `"event":"oauth2.device_redeemed"`} {
		if !strings.Contains(logs, ev) {
			t.Errorf("logs lack %s", ev)
		}
	}
	_, deviceSecret, _ := strings.Cut(da.DeviceCode, ".")
	_, secret, _ := strings.Cut(got.tok.AccessToken, ".")
	ts.assertNoSecrets(t, deviceSecret, secret, da.UserCode, strings.ReplaceAll(da.UserCode, "-", ""))
}

// TestDeviceRefusals: another client, a bad device name, a wrong device
// code; authorization_pending, then slow_down for a poll before the
// interval; Deny answers access_denied (x/oauth2 ends its polling with
// it); a cross-site approval is refused.
func TestDeviceRefusals(t *testing.T) {
	ts := startServer(t, configs.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conf := cliConfig(ts.URL, "")

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"another client", url.Values{"client_id": {"aws-cli"}}, 401, "invalid_client"},
		{"no client", url.Values{}, 401, "invalid_client"},
		{"long device name", url.Values{"client_id": {"idbroker-cli"}, "device_name": {strings.Repeat("x", 65)}}, 400, "invalid_request"},
		{"control character", url.Values{"client_id": {"idbroker-cli"}, "device_name": {"box\x1b[2J"}}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.PostForm(ts.URL+"/oauth2/device_authorization", tc.form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != tc.status || out["error"] != tc.code || out["device_code"] != nil {
				t.Errorf("%d %v", resp.StatusCode, out)
			}
		})
	}

	da, err := conf.DeviceAuth(ctx, oauth2.SetAuthURLParam("device_name", "ci-runner"))
	if err != nil {
		t.Fatal(err)
	}
	if status, out := pollDevice(t, ts.URL, da.DeviceCode); status != 400 || out["error"] != "authorization_pending" {
		t.Errorf("first poll: %d %v", status, out)
	}
	if status, out := pollDevice(t, ts.URL, da.DeviceCode); status != 400 || out["error"] != "slow_down" {
		t.Errorf("poll at once again: %d %v", status, out)
	}
	rid, _, _ := strings.Cut(da.DeviceCode, ".")
	if status, out := pollDevice(t, ts.URL, rid+"."+strings.Repeat("A", 43)); status != 400 || out["error"] != "invalid_grant" {
		t.Errorf("wrong secret: %d %v", status, out)
	}

	b := newBrowser(t, ts.URL)
	if status, _, _ := b.signIn("demo", "alice", "alice"); status != http.StatusOK {
		t.Fatal("sign-in")
	}
	_, entry := b.get("/device")
	status, confirm := b.enterCode(entry, da.UserCode)
	if status != http.StatusOK || !strings.Contains(confirm, "ci-runner") {
		t.Fatalf("code: %d\n%s", status, confirm)
	}
	m := choiceFormRE.FindStringSubmatch(confirm)
	if status, _, _ := b.post("/device", url.Values{"csrf_token": {b.csrf(confirm)}, "choice": {m[1]}, "decision": {"approve"}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); status != http.StatusForbidden {
		t.Errorf("cross-site approval: %d", status)
	}
	if status, body := b.decide(confirm, "deny"); status != http.StatusOK || !strings.Contains(body, "Denied") {
		t.Fatalf("deny: %d\n%s", status, body)
	}
	if _, err := conf.DeviceAccessToken(ctx, da); oauthCode(err) != "access_denied" {
		t.Errorf("x/oauth2 after Deny: %v", err)
	}
	if status, out := pollDevice(t, ts.URL, da.DeviceCode); status != 400 || out["error"] != "access_denied" {
		t.Errorf("poll after Deny: %d %v", status, out)
	}
	if !strings.Contains(ts.Logs.String(), `"event":"oauth2.device_denied"`) {
		t.Error("no oauth2.device_denied audit event")
	}
}

// randomUserCode is a code of the right shape that no request was given
// (20^8 codes: a clash is out of reach).
func randomUserCode() string {
	const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// TestDeviceWrongCodes: a wrong code is refused like a used or expired
// one; a code that cannot be one is refused without counting; after five
// wrong codes no code is looked up, not even the right one, for the
// session and for the client address (another session from it too).
func TestDeviceWrongCodes(t *testing.T) {
	ts := startServer(t, configs.Demo)
	da, err := cliConfig(ts.URL, "").DeviceAuth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts.URL)
	if status, _, _ := b.signIn("demo", "alice", "alice"); status != http.StatusOK {
		t.Fatal("sign-in")
	}
	_, entry := b.get("/device")
	for _, typed := range []string{"hello", "AAAA-AAAA", "BCDF-GHJ"} {
		if status, body := b.enterCode(entry, typed); status != http.StatusBadRequest || !strings.Contains(body, "A code is 8 letters") {
			t.Errorf("%q: %d\n%s", typed, status, body)
		}
	}
	for i := range 5 {
		if status, body := b.enterCode(entry, randomUserCode()); status != http.StatusBadRequest || !strings.Contains(body, "That code is not valid") {
			t.Fatalf("wrong code %d: %d\n%s", i+1, status, body)
		}
	}
	if status, body := b.enterCode(entry, da.UserCode); status != http.StatusTooManyRequests || !strings.Contains(body, "Too many wrong codes") {
		t.Errorf("the right code after five wrong ones: %d\n%s", status, body)
	}
	other := newBrowser(t, ts.URL)
	if status, _, _ := other.signIn("demo", "bob", "bob"); status != http.StatusOK {
		t.Fatal("sign-in")
	}
	_, entry = other.get("/device")
	if status, body := other.enterCode(entry, da.UserCode); status != http.StatusTooManyRequests {
		t.Errorf("another session from the same address: %d\n%s", status, body)
	}
	ts.assertNoSecrets(t, da.UserCode, strings.ReplaceAll(da.UserCode, "-", ""))
}
