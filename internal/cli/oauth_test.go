package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The client side of the CLI's two OAuth flows against a minimal OAuth
// server written here to the pinned protocol (client idbroker-cli, PKCE
// S256, a loopback redirect, the device grant); cmd/idbroker's
// cli_oauth_e2e_test.go runs the same flows against the broker's own.

type miniOAuth struct {
	t  *testing.T
	mu sync.Mutex
	// authorize: what the "person" answers: "allow" or "deny".
	decision string
	codes    map[string]url.Values // code -> the authorize request
	// device grant
	deviceName string
	polls      int
	device     []string // the token endpoint's answers, in turn ("ok" for the token)
	// tokenError, when set, is the authorization_code grant's error.
	tokenError string
}

func newMiniOAuth(t *testing.T) (*miniOAuth, *httptest.Server) {
	m := &miniOAuth{t: t, decision: "allow", codes: map[string]url.Values{}}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv
}

func oauthJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (m *miniOAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r.URL.Path {
	case "/oauth2/authorize":
		q := r.URL.Query()
		ru, err := url.Parse(q.Get("redirect_uri"))
		if q.Get("client_id") != ClientID || err != nil || ru.Scheme != "http" || ru.Hostname() != "127.0.0.1" || ru.Path != "/callback" ||
			q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("response_type") != "code" {
			http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		back := url.Values{"state": {q.Get("state")}}
		if m.decision == "deny" {
			back.Set("error", "access_denied")
		} else {
			code := "code-" + q.Get("state")[:8]
			m.codes[code] = q
			back.Set("code", code)
		}
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusSeeOther)
	case "/oauth2/token":
		_ = r.ParseForm()
		if r.PostForm.Get("client_id") != ClientID || r.PostForm.Has("client_secret") {
			oauthJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			req, ok := m.codes[r.PostForm.Get("code")]
			delete(m.codes, r.PostForm.Get("code"))
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			switch {
			case m.tokenError != "":
				oauthJSON(w, 400, map[string]string{"error": m.tokenError, "error_description": "the code was used before"})
			case !ok || r.PostForm.Get("redirect_uri") != req.Get("redirect_uri") ||
				base64.RawURLEncoding.EncodeToString(sum[:]) != req.Get("code_challenge"):
				oauthJSON(w, 400, map[string]string{"error": "invalid_grant"})
			default:
				w.Header().Set("Cache-Control", "no-store")
				oauthJSON(w, 200, map[string]any{"access_token": "S1.loopback-session-token", "token_type": "Bearer", "expires_in": 3600})
			}
		case "urn:ietf:params:oauth:grant-type:device_code":
			if r.PostForm.Get("device_code") != "dev-code" {
				oauthJSON(w, 400, map[string]string{"error": "invalid_grant"})
				return
			}
			m.polls++
			answer := "authorization_pending"
			if len(m.device) > 0 {
				answer, m.device = m.device[0], m.device[1:]
			}
			if answer == "ok" {
				oauthJSON(w, 200, map[string]any{"access_token": "S2.device-session-token", "token_type": "Bearer", "expires_in": 3600})
				return
			}
			oauthJSON(w, 400, map[string]string{"error": answer})
		default:
			oauthJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		}
	case "/oauth2/device_authorization":
		_ = r.ParseForm()
		m.deviceName = r.PostForm.Get("device_name")
		oauthJSON(w, 200, map[string]any{"device_code": "dev-code", "user_code": "BCDF-GHJK",
			"verification_uri": "https://b.example/device", "verification_uri_complete": "https://b.example/device?user_code=BCDF-GHJK",
			"expires_in": 600, "interval": 1})
	default:
		http.NotFound(w, r)
	}
}

// browse is the person's browser: it follows the redirects to the
// loopback listener and returns its page.
func browse(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Errorf("browser: %v", err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLoopbackLogin(t *testing.T) {
	m, srv := newMiniOAuth(t)
	c := NewClient(srv.URL, "test")
	ctx := context.Background()

	t.Run("allowed", func(t *testing.T) {
		pageCh := make(chan string, 1) // the browser's last page
		var shown string
		tok, err := c.LoopbackLogin(ctx, LoopbackOptions{Provider: "corp", Show: func(u string) { shown = u },
			Open: func(u string) error {
				go func() {
					// Someone else's answer first: wrong state, then a
					// wrong Host; neither ends the wait.
					au, _ := url.Parse(u)
					redirect := au.Query().Get("redirect_uri")
					if status, _ := browse(t, redirect+"?code=stolen&state=guess"); status != http.StatusBadRequest {
						t.Errorf("wrong state: %d", status)
					}
					req, _ := http.NewRequest(http.MethodGet, redirect+"?code=x&state="+au.Query().Get("state"), nil)
					req.Host = "rebound.example:80"
					if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
						t.Errorf("foreign Host: %v %v", resp, err)
					}
					_, page := browse(t, u)
					pageCh <- page
				}()
				return nil
			}})
		if err != nil || tok != "S1.loopback-session-token" {
			t.Fatalf("token %q, %v", tok, err)
		}
		au, _ := url.Parse(shown)
		if au.Query().Get("provider") != "corp" || !strings.HasPrefix(shown, srv.URL+"/oauth2/authorize?") {
			t.Errorf("authorization URL %s", shown)
		}
		select {
		case page := <-pageCh:
			if !strings.Contains(page, "You can close this tab") {
				t.Errorf("page %q", page)
			}
		case <-time.After(10 * time.Second):
			t.Error("the browser never got the loopback's page")
		}
	})

	t.Run("denied in the browser", func(t *testing.T) {
		m.mu.Lock()
		m.decision = "deny"
		m.mu.Unlock()
		defer func() { m.mu.Lock(); m.decision = "allow"; m.mu.Unlock() }()
		_, err := c.LoopbackLogin(ctx, LoopbackOptions{Open: func(u string) error { go browse(t, u); return nil }})
		var oe *OAuthError
		if !errors.As(err, &oe) || oe.Code != "access_denied" || err.Error() != "the sign-in was denied in the browser" {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("the token endpoint refuses", func(t *testing.T) {
		m.mu.Lock()
		m.tokenError = "invalid_grant"
		m.mu.Unlock()
		defer func() { m.mu.Lock(); m.tokenError = ""; m.mu.Unlock() }()
		_, err := c.LoopbackLogin(ctx, LoopbackOptions{Open: func(u string) error { go browse(t, u); return nil }})
		if err == nil || !strings.Contains(err.Error(), "expired or used already") || !strings.Contains(err.Error(), "the code was used before") {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("the browser never comes back", func(t *testing.T) {
		_, err := c.LoopbackLogin(ctx, LoopbackOptions{Timeout: 100 * time.Millisecond})
		var te *LoopbackTimeoutError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), "--device") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestDeviceLogin(t *testing.T) {
	m, srv := newMiniOAuth(t)
	c := NewClient(srv.URL, "test")
	for _, tc := range []struct {
		name    string
		answers []string
		want    string // token, or the error's text
	}{
		{"approved after waiting", []string{"authorization_pending", "ok"}, "S2.device-session-token"},
		{"denied", []string{"access_denied"}, "the sign-in was denied in the browser"},
		{"expired", []string{"expired_token"}, "the code BCDF-GHJK expired before it was approved: run the command again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m.mu.Lock()
			m.device, m.polls = tc.answers, 0
			m.mu.Unlock()
			var shown *oauth2.DeviceAuthResponse
			tok, err := c.DeviceLogin(context.Background(), DeviceOptions{DeviceName: "build-host\x1b[2J" + strings.Repeat("x", 80),
				Show: func(da *oauth2.DeviceAuthResponse) { shown = da }})
			got := tok
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if shown == nil || shown.UserCode != "BCDF-GHJK" || shown.VerificationURI != "https://b.example/device" {
				t.Errorf("shown %+v", shown)
			}
			if want := ("build-host[2J" + strings.Repeat("x", 80))[:64]; m.deviceName != want {
				t.Errorf("device_name %q", m.deviceName)
			}
			if m.polls != len(tc.answers) {
				t.Errorf("%d polls, want %d", m.polls, len(tc.answers))
			}
		})
	}
}
