package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
)

// scriptedPassword is a password provider whose Login returns err.
type scriptedPassword struct{ err error }

func (p scriptedPassword) Login(context.Context, string, string) (providers.Identity, error) {
	return providers.Identity{}, p.err
}

// lockedBuf is a goroutine-safe log sink.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newPasswordBroker builds a broker with one password provider "corp"
// (err is what its logins return) and AssumeRoleWithLDAPIdentity on it.
func newPasswordBroker(t *testing.T, err error) (*Server, *lockedBuf) {
	t.Helper()
	const pub = "http://broker.example.com"
	keys, kerr := GenerateKeys()
	if kerr != nil {
		t.Fatal(kerr)
	}
	iss, ierr := NewIssuer(pub, keys.Signing, nil)
	if ierr != nil {
		t.Fatal(ierr)
	}
	ring, rerr := sts.GenerateKeyRing()
	if rerr != nil {
		t.Fatal(rerr)
	}
	svc, serr := sts.New(sts.Config{AccountID: "123456789012", Partition: "aws", Region: "us-east-1", PublicURL: pub, Keys: ring})
	if serr != nil {
		t.Fatal(serr)
	}
	m, merr := mapping.Compile(mapping.Config{}, mapping.Env{AccountID: "123456789012", Partition: "aws"})
	if merr != nil {
		t.Fatal(merr)
	}
	logs := &lockedBuf{}
	s, nerr := New(Config{PublicURL: pub, Providers: []Provider{{Name: "corp", Type: "ldap", Impl: scriptedPassword{err: err}}},
		Mapper: m, STS: svc, Issuer: iss, CookieKey: keys.Cookie, Store: store.NewMemory(nil),
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if nerr != nil {
		t.Fatal(nerr)
	}
	fn, ferr := s.LDAPIdentityAction("corp")
	if ferr != nil {
		t.Fatal(ferr)
	}
	svc.RegisterAction(LDAPIdentityActionName, fn)
	return s, logs
}

var formTokenRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// TestPasswordLoginFailureKinds: a misconfigured provider is answered as
// the broker's fault (500) on the browser form, the JSON API and the STS
// action, logged at ERROR with a request id the answer quotes; an outage
// is a 503; a wrong password stays a 401/403. The password never reaches
// the log.
func TestPasswordLoginFailureKinds(t *testing.T) {
	const canary = "CANARY-password-kinds-77"
	tests := []struct {
		name                       string
		err                        error
		page, api, stsStatus       int
		pageWant, apiCode, stsCode string
		level                      string // level of the broker's own log line ("" = none)
	}{
		{"wrong password", fmt.Errorf("ldap: %w", providers.ErrInvalidCredentials), 401, 401, 403, "Invalid username or password.", "InvalidCredentials", "AccessDenied", ""},
		{"several entries", fmt.Errorf("ldap: user search matched 2 entries: %w", providers.ErrConfiguration), 500, 500, 500, "This sign-in method is misconfigured.", "ProviderMisconfigured", "InternalFailure", "ERROR"},
		{"referral", fmt.Errorf("ldap: search returned 1 referral(s), not followed: %w", providers.ErrConfiguration), 500, 500, 500, "This sign-in method is misconfigured.", "ProviderMisconfigured", "InternalFailure", "ERROR"},
		{"unavailable", fmt.Errorf("ldap: dial: %w", providers.ErrUnavailable), 503, 503, 503, "cannot be reached", "ProviderUnavailable", "ServiceUnavailable", "WARN"},
		{"unexpected", errors.New("something odd"), 500, 500, 500, "Something went wrong.", "InternalError", "InternalFailure", "ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := newPasswordBroker(t, tc.err)
			var rids []string

			// Browser form.
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://broker.example.com/login/corp", nil))
			m := formTokenRE.FindStringSubmatch(rec.Body.String())
			if m == nil {
				t.Fatalf("no form: %s", rec.Body)
			}
			req := httptest.NewRequest(http.MethodPost, "http://broker.example.com/login/corp",
				strings.NewReader(url.Values{"csrf_token": {m[1]}, "username": {"twin"}, "password": {canary}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, c := range rec.Result().Cookies() {
				req.AddCookie(c)
			}
			rec = httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.page || !strings.Contains(rec.Body.String(), tc.pageWant) {
				t.Errorf("browser: %d, want %d with %q:\n%s", rec.Code, tc.page, tc.pageWant, rec.Body)
			}
			if tc.page == 500 {
				if strings.Contains(rec.Body.String(), "Invalid username or password") || strings.Contains(rec.Body.String(), `name="password"`) {
					t.Errorf("browser: a misconfiguration reads like a wrong password:\n%s", rec.Body)
				}
				if m := regexp.MustCompile(`Request ID: <code>([^<]+)</code>`).FindStringSubmatch(rec.Body.String()); m != nil {
					rids = append(rids, m[1])
				} else {
					t.Errorf("browser: no request id:\n%s", rec.Body)
				}
			}

			// JSON API.
			body, _ := json.Marshal(map[string]string{"provider": "corp", "username": "twin", "password": canary})
			rec = httptest.NewRecorder()
			req = httptest.NewRequest(http.MethodPost, "http://broker.example.com/api/v1/credentials", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			s.ServeHTTP(rec, req)
			var out apiError
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != tc.api || out.Error.Code != tc.apiCode {
				t.Errorf("API: %d %s, want %d %s (%v)", rec.Code, rec.Body, tc.api, tc.apiCode, err)
			}
			if tc.api == 500 {
				rids = append(rids, out.Error.RequestID)
			}

			// STS action.
			form := url.Values{"Action": {LDAPIdentityActionName}, "Version": {"2011-06-15"}, "LDAPUsername": {"twin"}, "LDAPPassword": {canary}}
			rec = httptest.NewRecorder()
			req = httptest.NewRequest(http.MethodPost, "http://broker.example.com/", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			s.ServeHTTP(rec, req)
			if rec.Code != tc.stsStatus || !strings.Contains(rec.Body.String(), "<Code>"+tc.stsCode+"</Code>") || strings.Contains(rec.Body.String(), "SecretAccessKey") {
				t.Errorf("STS: %d %s, want %d %s", rec.Code, rec.Body, tc.stsStatus, tc.stsCode)
			}
			if tc.stsStatus == 500 {
				if !strings.Contains(rec.Body.String(), "<Type>Receiver</Type>") {
					t.Errorf("STS: a server fault must be of type Receiver: %s", rec.Body)
				}
				if m := regexp.MustCompile(`request id ([0-9a-f-]{36})`).FindStringSubmatch(rec.Body.String()); m != nil {
					rids = append(rids, m[1])
				} else {
					t.Errorf("STS: no request id: %s", rec.Body)
				}
			}

			// Logs: one line per request at the wanted level, with its id.
			var lines []map[string]any
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var e map[string]any
				if err := json.Unmarshal([]byte(l), &e); err == nil && strings.HasPrefix(fmt.Sprint(e["msg"]), "password login failed") {
					lines = append(lines, e)
				}
			}
			switch {
			case tc.level == "" && len(lines) != 0:
				t.Errorf("unexpected failure log lines: %v", lines)
			case tc.level != "" && len(lines) != 3:
				t.Errorf("%d failure log lines, want 3: %s", len(lines), logs)
			}
			for _, l := range lines {
				if l["level"] != tc.level || l["provider"] != "corp" || l["err"] == nil {
					t.Errorf("log line %v: want level %s, provider and err", l, tc.level)
				}
			}
			for _, rid := range rids {
				if !strings.Contains(logs.String(), `"request_id":"`+rid+`"`) {
					t.Errorf("request id %s quoted to the client is not in the log", rid)
				}
			}
			if strings.Contains(logs.String(), canary) {
				t.Error("the password reached the log")
			}
		})
	}
}
