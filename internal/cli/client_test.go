package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestNormalizeBrokerURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://IDBroker.Example.com/":     "https://idbroker.example.com",
		"https://idbroker.example.com/sso/": "https://idbroker.example.com/sso",
		"http://127.0.0.1:8080":             "http://127.0.0.1:8080",
		"HTTP://localhost:8080/":            "http://localhost:8080",
		"http://[::1]:8080":                 "http://[::1]:8080",
		" https://b.example ":               "https://b.example",
	} {
		if got, err := NormalizeBrokerURL(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"":                             "empty",
		"idbroker.example.com":         "https://",
		"ftp://b.example":              "https://",
		"http://idbroker.example.com":  "plain http",
		"http://127.0.0.1.nip.io:8080": "plain http",
		"https://user:pw@b.example":    "user name",
		"https://b.example/?next=x":    "query",
		"https://b.example/#x":         "fragment",
		"https:///path":                "no host",
		"http://10.0.0.1:8080":         "plain http",
		"https://b.example/%zz":        "not a URL",
	} {
		if _, err := NormalizeBrokerURL(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want an error saying %q", in, err, why)
		}
	}
}

// TestTransportErrors: what a person reads when the broker cannot be
// reached: a port nobody listens on, a TLS certificate this machine does
// not trust, plain http on a TLS port, and a server that does not answer.
func TestTransportErrors(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	slow := make(chan struct{})
	slowSrv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-slow }))
	defer slowSrv.Close()
	defer close(slow) // before the server's Close, which waits for its handlers

	for _, tc := range []struct {
		name, base, want string
		timeout          time.Duration
	}{
		{"nobody listens", closed, "the connection was refused. Is the URL right, and is the broker running?", 0},
		{"untrusted certificate", tlsSrv.URL, "not signed by an authority this machine trusts. If your organisation has its own certificate authority, point SSL_CERT_FILE at its CA file", 0},
		{"http to a TLS port", "http://" + strings.TrimPrefix(tlsSrv.URL, "https://"), "answered HTTP 400", 0},
		{"https to a plain port", "https://" + strings.TrimPrefix(slowSrv.URL, "http://"), "the server does not speak TLS there", 0},
		{"no answer", slowSrv.URL, "did not answer in time", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClient(tc.base, "test")
			if tc.timeout > 0 {
				c.HTTP.Timeout = tc.timeout
			}
			_, err := c.CurrentSession(ctx, "S.x")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.base) {
				t.Fatalf("err %v\nwant it to name %s and say %q", err, tc.base, tc.want)
			}
		})
	}
}

// TestAPIErrors: the broker's JSON refusals are kept (code, message,
// roles); other answers say what they are; a server's text cannot move
// the terminal's cursor.
func TestAPIErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/credentials":
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer S.tok" {
				w.WriteHeader(http.StatusTeapot)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":{"code":"RoleNoLongerGranted","message":"this role is no longer granted to this user: arn:aws:iam::1:role/A\u001b[2J"}}`))
		case "/api/v1/sessions/current":
			http.Redirect(w, r, "https://sso.example/", http.StatusFound)
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "test")
	_, err := c.Credentials(context.Background(), "S.tok", "A")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != "RoleNoLongerGranted" || strings.ContainsRune(ae.Message, 0x1b) {
		t.Fatalf("err %#v", err)
	}
	if !IsAPIError(err, "RoleNoLongerGranted") || IsAPIError(err, "InvalidSession") {
		t.Error("IsAPIError")
	}
	if _, err := c.CurrentSession(context.Background(), "S.tok"); err == nil || !strings.Contains(err.Error(), "a redirect") {
		t.Errorf("redirect: %v", err)
	}
	if _, err := c.CreateSession(context.Background(), SignIn{Provider: "p", Username: "u", Password: "pw"}); err == nil || !strings.Contains(err.Error(), "HTTP 502: the broker or a proxy in front of it has a problem") {
		t.Errorf("502: %v", err)
	}
}

// TestFormatEnvInRealShells: the exports give each value back unchanged
// in sh (and bash when installed), whatever quotes it holds.
func TestFormatEnvInRealShells(t *testing.T) {
	value := `a'b"c$(touch /tmp/x)\d` + "`e`"
	vars := []EnvVar{{"AWS_SECRET_ACCESS_KEY", value}}
	for _, shell := range []string{"sh", "bash"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			continue
		}
		out, err := FormatEnv("sh", vars)
		if err != nil {
			t.Fatal(err)
		}
		got, err := exec.Command(path, "-c", out+`printf %s "$AWS_SECRET_ACCESS_KEY"`).Output()
		if err != nil || string(got) != value {
			t.Errorf("%s: %q %v", shell, got, err)
		}
	}
	fish, _ := FormatEnv("fish", vars)
	if fish != `set -gx AWS_SECRET_ACCESS_KEY 'a\'b"c$(touch /tmp/x)\\d`+"`e`"+"';\n" {
		t.Errorf("fish: %s", fish)
	}
	ps, _ := FormatEnv("powershell", vars)
	if ps != `$Env:AWS_SECRET_ACCESS_KEY = 'a''b"c$(touch /tmp/x)\d`+"`e`"+"'\n" {
		t.Errorf("powershell: %s", ps)
	}
	if _, err := FormatEnv("csh", vars); err == nil {
		t.Error("csh accepted")
	}
}

// TestProviders: the listing is read from the broker's JSON, with the
// server's text kept printable; a server that answers with a page is
// not taken for a broker.
func TestProviders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/providers":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"providers":[{"name":"corp","display_name":"Corp\u001b[2J","type":"ldap","password":true},{"name":"okta","display_name":"Okta","type":"oidc","password":false}]}`))
		default:
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>a web site</html>"))
		}
	}))
	defer srv.Close()
	provs, err := NewClient(srv.URL, "test").Providers(context.Background())
	if err != nil || len(provs) != 2 {
		t.Fatalf("%+v %v", provs, err)
	}
	if p := provs[0]; p.Name != "corp" || !p.Password || p.Type != "ldap" || strings.ContainsRune(p.DisplayName, 0x1b) {
		t.Errorf("corp: %+v", p)
	}
	if p := provs[1]; p.Name != "okta" || p.Password || p.Type != "oidc" {
		t.Errorf("okta: %+v", p)
	}
	if _, err := NewClient(srv.URL+"/other", "test").Providers(context.Background()); err == nil {
		t.Error("a web page was read as a provider listing")
	}
}
