package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"golang.org/x/crypto/bcrypt"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name        string
		raw         string
		wantStatus  int
		wantBody    string
		wantClosing bool
		wantErr     bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", false, false},
		{"chunked", "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 400, "abcde", false, false},
		{"connection close", "HTTP/1.1 503 x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n", 503, "", true, false},
		{"no length", "HTTP/1.1 200 OK\r\n\r\nbody", 200, "", true, true},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", 0, "", true, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 200, "", true, true},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 200, "", false, true},
		{"header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", 200, "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.raw))
			status, body, closing, err := readResponse(br, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if status != tt.wantStatus || closing != tt.wantClosing {
				t.Fatalf("status %d closing %v, want %d %v", status, closing, tt.wantStatus, tt.wantClosing)
			}
			if !tt.wantErr && string(body) != tt.wantBody {
				t.Fatalf("body %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func TestErrorCodeAndCheck(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{400, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code></Error></ErrorResponse>`, "InvalidIdentityToken"},
		{401, `{"error":{"code":"InvalidCredentials","message":"x"}}`, "InvalidCredentials"},
		{502, `bad gateway`, "HTTP-502"},
		{200, `<AssumeRoleWithWebIdentityResponse>no creds</AssumeRoleWithWebIdentityResponse>`, "200-without-<SessionToken>"},
		{200, `<Credentials><SessionToken>x</SessionToken></Credentials>`, ""},
	}
	check := okWhen("<SessionToken>")
	for _, tt := range tests {
		if got := check(tt.status, []byte(tt.body)); got != tt.want {
			t.Errorf("check(%d, %q) = %q, want %q", tt.status, tt.body, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{0.5: 50, 0.9: 90, 0.99: 99, 1: 100} {
		if got := percentile(s, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

// TestSignerMatchesSDK compares the driver's SigV4 signature with
// aws-sdk-go-v2's for the same request.
func TestSignerMatchesSDK(t *testing.T) {
	c := creds{AccessKeyID: "ASIAEXAMPLEEXAMPLE12", SecretAccessKey: strings.Repeat("s", 40), SessionToken: "tok-en_123"}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s := newGCISigner("127.0.0.1:8080", benchRegion, c)
	raw := s.request(nil, at)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(string(raw))))
	if err != nil {
		t.Fatal(err)
	}
	ours := req.Header.Get("Authorization")

	sdkReq, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/", strings.NewReader(gciBody))
	sdkReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sdkReq.ContentLength = 0 // the driver does not sign Content-Length
	sum := sha256.Sum256([]byte(gciBody))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken},
		sdkReq, hex.EncodeToString(sum[:]), "sts", benchRegion, at); err != nil {
		t.Fatal(err)
	}
	if theirs := sdkReq.Header.Get("Authorization"); ours != theirs {
		t.Fatalf("signatures differ:\n ours %s\n sdk  %s", ours, theirs)
	}
	// A second request in the same second reuses the rendered bytes; a new
	// second re-signs.
	if string(s.request(nil, at)) != string(raw) {
		t.Error("same second, different request")
	}
	if string(s.request(nil, at.Add(time.Second))) == string(raw) {
		t.Error("new second, same signature")
	}
}

// floorHarness runs the bench issuer and a floor on loopback.
func floorHarness(t *testing.T) (*issuer, *floor, string) {
	t.Helper()
	is, err := startIssuer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.close)
	pub, err := fetchJWKSKey(context.Background(), is.url)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	f, err := newFloor(is.url, pub, hash, benchPassword)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: f}}
	srv.Start()
	t.Cleanup(srv.Close)
	return is, f, ln.Addr().String()
}

func TestFloorVerifiesTokens(t *testing.T) {
	is, f, _ := floorHarness(t)
	now := time.Now()
	good, err := is.mint("alice", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := is.mint("alice", now.Add(-2*time.Hour), time.Hour)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	otherIssuer := &issuer{url: "http://127.0.0.1:1", kid: is.kid, key: is.key}
	foreign, _ := otherIssuer.mint("alice", now, time.Hour)
	tests := []struct {
		name, tok string
		ok        bool
	}{
		{"good", good, true},
		{"expired", expired, false},
		{"tampered payload", tampered, false},
		{"other issuer", foreign, false},
		{"not a jwt", "abc", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := f.verifyRS256(tt.tok)
			if (err == nil) != tt.ok || (tt.ok && sub != "alice") {
				t.Fatalf("verify: sub %q err %v, want ok=%v", sub, err, tt.ok)
			}
		})
	}
}

// TestLoadAgainstFloor drives every floor flow for a moment through the
// same code the benchmark uses, and checks a wrong secret is refused.
func TestLoadAgainstFloor(t *testing.T) {
	is, _, addr := floorHarness(t)
	toks, err := is.mintPool(8, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{issuer: is, tokens: toks}
	tg := target{kind: "floor", addr: addr}
	for _, name := range []string{"web-identity", "caller-identity", "api-login"} {
		t.Run(name, func(t *testing.T) {
			var f flowDef
			for _, fd := range flows() {
				if fd.name == name {
					f = fd
				}
			}
			p, skip, err := f.prepare(context.Background(), b, tg, 4)
			if err != nil || skip != "" {
				t.Fatalf("prepare: %v %q", err, skip)
			}
			res := runLoad(loadSpec{Addr: addr, Conns: 4, Duration: 300 * time.Millisecond, MaxRequests: 50, NewGen: p.newGen, Check: p.check})
			if res.OK == 0 || res.OK != res.Requests || len(res.Errors) != 0 {
				t.Fatalf("requests %d ok %d errors %v", res.Requests, res.OK, res.Errors)
			}
			if res.Requests > 4*50 {
				t.Fatalf("%d requests: the per-connection bound of 50 was not kept", res.Requests)
			}
			if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
				t.Fatalf("latencies p50 %v p99 %v max %v", res.P50, res.P99, res.Max)
			}
		})
	}
	t.Run("caller-identity wrong secret", func(t *testing.T) {
		c, err := assumeOnce(context.Background(), addr, toks[0], "x")
		if err != nil {
			t.Fatal(err)
		}
		c.SecretAccessKey = strings.Repeat("x", 40)
		s := newGCISigner(addr, benchRegion, c)
		res := runLoad(loadSpec{Addr: addr, Conns: 1, Duration: 200 * time.Millisecond, MaxRequests: 3,
			NewGen: func(int) genFunc { return func(buf []byte, _ int) []byte { return s.request(buf, time.Now()) } },
			Check:  okWhen("<Arn>")})
		if res.OK != 0 || res.Errors["SignatureDoesNotMatch"] != res.Requests || res.Requests == 0 {
			t.Fatalf("wrong secret: ok %d errors %v", res.OK, res.Errors)
		}
	})
}

func TestBenchConfigParses(t *testing.T) {
	cfg := benchConfig("127.0.0.1:8080", "http://127.0.0.1:18081", "$2a$04$abcdefghijklmnopqrstuuWFEZMEsWOBBa0M8VXGVDt8tdnEc2WG6", nil, nil, deployment{})
	for _, want := range []string{"pprof: true", "oidc-provider/127.0.0.1:18081", `"127.0.0.1:18081:aud": "idbroker-bench"`, "issuer: http://127.0.0.1:18081"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q", want)
		}
	}
}
