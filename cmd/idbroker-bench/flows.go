package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	benchAccount  = "123456789012"
	benchRole     = "Bench"
	benchUser     = "bench"
	benchPassword = "bench-password"
	benchRegion   = "us-east-1"
	stsVersion    = "2011-06-15"
)

// benchRoleARN is the role every flow assumes.
var benchRoleARN = "arn:aws:iam::" + benchAccount + ":role/" + benchRole

// target is a server a flow is driven against: idbroker or its floor.
// Requests name addr (the public URL's host: replica 0's); connections
// dial dial round robin when it is set (replicas), addr otherwise.
type target struct {
	kind string // "idbroker" or "floor"
	addr string
	dial []string
}

// prepared is a flow ready to run against one target.
type prepared struct {
	newGen func(i int) genFunc
	check  checkFunc
}

// flowDef is one measured flow. prepare returns a non-empty skip reason
// when the flow's feature is not available on the target.
type flowDef struct {
	name    string
	prepare func(ctx context.Context, b *bench, t target, conns int) (p *prepared, skip string, err error)
}

func flows() []flowDef {
	return []flowDef{
		{name: "web-identity", prepare: prepareWebIdentity},
		{name: "caller-identity", prepare: prepareCallerIdentity},
		{name: "saml", prepare: prepareSAML},
		{name: "ldap", prepare: prepareLDAP},
		{name: "api-login", prepare: prepareAPILogin},
	}
}

// rawPost renders a complete HTTP/1.1 POST.
func rawPost(host, path, contentType, body string) []byte {
	return []byte("POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: " + contentType +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

func webIdentityBody(token, session string) string {
	return "Action=AssumeRoleWithWebIdentity&Version=" + stsVersion +
		"&RoleArn=" + url.QueryEscape(benchRoleARN) +
		"&RoleSessionName=" + url.QueryEscape(session) +
		"&WebIdentityToken=" + url.QueryEscape(token)
}

// prepareWebIdentity pre-renders one request per pooled token: the driver
// only copies bytes while it measures.
func prepareWebIdentity(_ context.Context, b *bench, t target, _ int) (*prepared, string, error) {
	reqs := make([][]byte, len(b.tokens))
	for i, tok := range b.tokens {
		reqs[i] = rawPost(t.addr, "/", "application/x-www-form-urlencoded", webIdentityBody(tok, fmt.Sprintf("bench-%05d", i)))
	}
	return &prepared{
		newGen: func(i int) genFunc {
			return func(buf []byte, seq int) []byte { return append(buf, reqs[(i*7919+seq)%len(reqs)]...) }
		},
		check: okWhen("<SessionToken>"),
	}, "", nil
}

// assumeOnce exchanges one token for credentials (setup, not measured).
func assumeOnce(ctx context.Context, addr, token, session string) (creds, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/", strings.NewReader(webIdentityBody(token, session)))
	if err != nil {
		return creds{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return creds{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return creds{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return creds{}, fmt.Errorf("AssumeRoleWithWebIdentity: %s", errorCode(resp.StatusCode, body))
	}
	var out struct {
		Creds struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
		} `xml:"AssumeRoleWithWebIdentityResult>Credentials"`
	}
	if err := xml.Unmarshal(body, &out); err != nil || out.Creds.SessionToken == "" {
		return creds{}, fmt.Errorf("AssumeRoleWithWebIdentity: no credentials in the answer")
	}
	return creds(out.Creds), nil
}

// prepareCallerIdentity gets a few credential sets from the target, then
// gives each connection a signer for one of them.
func prepareCallerIdentity(ctx context.Context, b *bench, t target, conns int) (*prepared, string, error) {
	n := min(conns, 16, len(b.tokens))
	cs := make([]creds, n)
	for i := range n {
		c, err := assumeOnce(ctx, t.addr, b.tokens[i], fmt.Sprintf("gci-%d", i))
		if err != nil {
			return nil, "", fmt.Errorf("caller-identity setup on %s: %w", t.kind, err)
		}
		cs[i] = c
	}
	return &prepared{
		newGen: func(i int) genFunc {
			s := newGCISigner(t.addr, benchRegion, cs[i%n])
			return func(buf []byte, _ int) []byte { return s.request(buf, time.Now()) }
		},
		check: okWhen("<Arn>"),
	}, "", nil
}

func prepareAPILogin(_ context.Context, _ *bench, t target, _ int) (*prepared, string, error) {
	body := `{"provider":"bench","username":"` + benchUser + `","password":"` + benchPassword + `","role":"` + benchRole + `"}`
	req := rawPost(t.addr, "/api/v1/credentials", "application/json", body)
	return &prepared{
		newGen: func(int) genFunc { return func(buf []byte, _ int) []byte { return append(buf, req...) } },
		check:  okWhen(`"SessionToken"`),
	}, "", nil
}

// probeOnly detects whether the server implements action; the driver
// has no load generator for these flows yet, so they are reported as
// skipped either way, never faked.
func probeOnly(action string) func(context.Context, *bench, target, int) (*prepared, string, error) {
	return func(ctx context.Context, b *bench, t target, _ int) (*prepared, string, error) {
		if t.kind == "floor" {
			return nil, "no flow to compare with", nil
		}
		present, err := probeAction(ctx, t.addr, action)
		if err != nil {
			return nil, "", err
		}
		if !present {
			return nil, action + " is not implemented by the server (probe answered InvalidAction)", nil
		}
		return nil, action + " answers, but this driver has no load generator for it yet", nil
	}
}

// probeAction posts the bare action and reports whether the server knows it.
func probeAction(ctx context.Context, addr, action string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	form := "Action=" + action + "&Version=" + stsVersion
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/", strings.NewReader(form))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("probe %s: %w", action, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return !bytes.Contains(body, []byte("<Code>InvalidAction</Code>")), nil
}
