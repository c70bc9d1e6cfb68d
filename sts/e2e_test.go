package sts_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/golang-jwt/jwt/v5"
)

func TestWebIdentityThenGetCallerIdentity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	before := e.svc.Issued()
	tok := e.iss.token(t, e.clk.Now(), map[string]any{"amr": []string{"pwd"}})
	out, err := e.client(nil).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(e.roleARN()), RoleSessionName: aws.String("ci-run-42"),
		WebIdentityToken: aws.String(tok), DurationSeconds: aws.Int32(903),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	if got := e.svc.Issued(); got != before+1 {
		t.Errorf("Issued() = %d, want %d", got, before+1)
	}
	c := out.Credentials
	if !regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`).MatchString(*c.AccessKeyId) {
		t.Errorf("AccessKeyId %q: want ASIA + 16 base32", *c.AccessKeyId)
	}
	if len(*c.SecretAccessKey) != 40 {
		t.Errorf("secret length %d, want 40", len(*c.SecretAccessKey))
	}
	if *c.SessionToken == "" || len(*c.SessionToken) > 16<<10 {
		t.Errorf("session token length %d", len(*c.SessionToken))
	}
	if d := c.Expiration.Sub(e.clk.Now()); d < 900*time.Second || d > 904*time.Second {
		t.Errorf("Expiration in %v, want ~903s", d)
	}
	wantARN := "arn:aws:sts::" + testAccount + ":assumed-role/ci-deployer/ci-run-42"
	if *out.AssumedRoleUser.Arn != wantARN {
		t.Errorf("Arn = %q, want %q", *out.AssumedRoleUser.Arn, wantARN)
	}
	rid := *out.AssumedRoleUser.AssumedRoleId
	if !regexp.MustCompile(`^AROA[A-Z0-9]{17}:ci-run-42$`).MatchString(rid) || len(rid) != 21+1+len("ci-run-42") {
		t.Errorf("AssumedRoleId = %q", rid)
	}
	if *out.Provider != e.iss.providerARN() || *out.Audience != testClientID || *out.SubjectFromWebIdentityToken != "repo:acme/app:ref:refs/heads/main" {
		t.Errorf("Provider/Audience/Subject = %q %q %q", *out.Provider, *out.Audience, *out.SubjectFromWebIdentityToken)
	}
	if out.PackedPolicySize != nil {
		t.Errorf("PackedPolicySize = %d without session policy, want absent", *out.PackedPolicySize)
	}

	id, err := e.client(staticCreds(out)).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if *id.Arn != wantARN || *id.UserId != rid || *id.Account != testAccount {
		t.Errorf("GetCallerIdentity = %q %q %q", *id.Arn, *id.UserId, *id.Account)
	}
	// Role ids are deterministic: a second STS with the same config agrees.
	out2 := e.assume(t, "second")
	if strings.Split(*out2.AssumedRoleUser.AssumedRoleId, ":")[0] != strings.Split(rid, ":")[0] {
		t.Error("role id differs between sessions")
	}
	if ev := e.lastEvent(t); ev.Outcome != "issued" || ev.RoleARN != e.roleARN() || ev.AccessKeyID != *out2.Credentials.AccessKeyId {
		t.Errorf("last audit event = %+v", ev)
	}
	e.assertNoSecrets(t, tok, *c.SecretAccessKey, *c.SessionToken, *out2.Credentials.SecretAccessKey, *out2.Credentials.SessionToken)
}

func TestWireFormat(t *testing.T) {
	e := newEnv(t)
	tok := e.iss.token(t, e.clk.Now(), nil)
	r := e.postForm(t, form("Action", "AssumeRoleWithWebIdentity", "Version", "2011-06-15",
		"RoleArn", e.roleARN(), "RoleSessionName", "s1", "WebIdentityToken", tok, "UnknownParam", "ignored"))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if strings.Contains(r.body, "\n") {
		t.Error("XML body contains a newline")
	}
	if r.header.Get("Content-Type") != "text/xml" || r.header.Get("x-amzn-RequestId") == "" {
		t.Errorf("headers = %v", r.header)
	}
	for _, want := range []string{
		`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA`,
		`</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>` + r.header.Get("x-amzn-RequestId") + `</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("body lacks %q:\n%s", want, r.body)
		}
	}
	if !regexp.MustCompile(`<Expiration>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</Expiration>`).MatchString(r.body) {
		t.Errorf("Expiration format: %s", r.body)
	}

	// Error envelope: RequestId is a sibling of Error.
	r = e.postForm(t, form("Action", "Nope", "Version", "2011-06-15"))
	want := `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>Could not find operation Nope for version 2011-06-15</Message></Error><RequestId>`
	if r.status != 400 || !strings.HasPrefix(r.body, want) {
		t.Errorf("status %d body %s", r.status, r.body)
	}

	// GET with the parameters in the query string works too (pre-signed
	// GetCallerIdentity is tested separately); JSON only when asked.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
	req.Header.Set("Accept", "application/json")
	r = e.do(t, req)
	var js struct {
		Error struct{ Code, Message, Type string }
	}
	if err := json.Unmarshal([]byte(r.body), &js); err != nil || r.status != 403 || js.Error.Code != "MissingAuthenticationToken" || js.Error.Type != "Sender" {
		t.Errorf("JSON error: %d %s", r.status, r.body)
	}
}

// TestPresignedGetCallerIdentity: the EKS/Teleport pattern.
func TestPresignedGetCallerIdentity(t *testing.T) {
	e := newEnv(t)
	out := e.assume(t, "presigner")
	ps, err := awssts.NewPresignClient(e.client(staticCreds(out))).PresignGetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if ps.Method != http.MethodGet || !strings.Contains(ps.URL, "X-Amz-Signature=") || !strings.Contains(ps.URL, "X-Amz-Security-Token=") {
		t.Fatalf("presigned = %s %s", ps.Method, ps.URL)
	}
	for _, accept := range []string{"", "application/json"} {
		req, _ := http.NewRequest(ps.Method, ps.URL, nil)
		for k, v := range ps.SignedHeader {
			if !strings.EqualFold(k, "host") {
				req.Header[k] = v
			}
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		r := e.do(t, req)
		if r.status != 200 {
			t.Fatalf("Accept %q: status %d: %s", accept, r.status, r.body)
		}
		wantARN := "arn:aws:sts::" + testAccount + ":assumed-role/ci-deployer/presigner"
		if accept == "" {
			if !strings.Contains(r.body, "<Arn>"+wantARN+"</Arn>") {
				t.Errorf("XML body %s", r.body)
			}
			continue
		}
		var js struct {
			GetCallerIdentityResponse struct {
				GetCallerIdentityResult struct{ Arn, UserId, Account string }
				ResponseMetadata        struct{ RequestId string }
			}
		}
		if err := json.Unmarshal([]byte(r.body), &js); err != nil || js.GetCallerIdentityResponse.GetCallerIdentityResult.Arn != wantARN ||
			js.GetCallerIdentityResponse.ResponseMetadata.RequestId == "" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("JSON body %s (%v)", r.body, err)
		}
	}
	// Tampering with any signed query parameter breaks the signature.
	req, _ := http.NewRequest(http.MethodGet, strings.Replace(ps.URL, "Version=2011-06-15", "Version=2011-06-15&Extra=1", 1), nil)
	if r := e.do(t, req); r.status != 403 || r.code != "SignatureDoesNotMatch" {
		t.Errorf("tampered presigned: %d %s", r.status, r.body)
	}
	// Without X-Amz-Expires the 15-minute window applies.
	e.clk.Advance(16 * time.Minute)
	req, _ = http.NewRequest(http.MethodGet, ps.URL, nil)
	if r := e.do(t, req); r.code != "SignatureDoesNotMatch" || !strings.Contains(r.message, "Signature expired") {
		t.Errorf("stale presigned: %d %s", r.status, r.body)
	}
}

// TestWebIdentityRefusals drives each refusal through the real SDK client.
func TestWebIdentityRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := e.clk.Now()
	pubPEM := pemPublicKey(t, &e.iss.key.PublicKey)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": e.iss.URL(), "sub": "repo:acme/x", "aud": testClientID, "exp": now.Add(time.Hour).Unix()})
	hs.Header["kid"] = e.iss.kid
	hsTok, err := hs.SignedString(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	none := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		p, _ := json.Marshal(map[string]any{"iss": e.iss.URL(), "sub": "repo:acme/x", "aud": testClientID, "exp": now.Add(time.Hour).Unix()})
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}()
	otherIss := newTestIssuer(t)
	good := e.iss.token(t, now, nil)

	type tc struct {
		name, token, role, session string
		duration                   *int32
		policy                     *string
		code                       string
		status                     int
		msg                        string // substring of the message
		setup                      func()
	}
	cases := []tc{
		{name: "wrong aud", token: e.iss.token(t, now, map[string]any{"aud": "other-client"}), code: "InvalidIdentityToken", status: 400, msg: "Incorrect token audience"},
		{name: "unknown issuer", token: otherIss.token(t, now, nil), code: "InvalidIdentityToken", status: 400, msg: "No OpenIDConnect provider found in your account for " + otherIss.URL()},
		{name: "expired", token: e.iss.token(t, now.Add(-time.Hour), nil), code: "ExpiredTokenException", status: 400,
			msg: " must be before the expiration date/time" + strconv.FormatInt(now.Add(-time.Hour+5*time.Minute).Unix(), 10)},
		{name: "alg none", token: none, code: "InvalidIdentityToken", status: 400},
		{name: "HS256 with public key", token: hsTok, code: "InvalidIdentityToken", status: 400},
		{name: "not a JWT", token: "opaque-access-token", code: "InvalidIdentityToken", status: 400, msg: "not a valid JWT"},
		{name: "signed by another key", token: func() string { s := otherIss.token(t, now, map[string]any{"iss": e.iss.URL()}); return s }(), code: "InvalidIdentityToken", status: 400},
		{name: "trust policy sub mismatch", token: e.iss.token(t, now, map[string]any{"sub": "repo:evil/app"}), code: "AccessDenied", status: 403, msg: "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
		{name: "unknown role", token: good, role: "arn:aws:iam::" + testAccount + ":role/nope", code: "AccessDenied", status: 403},
		{name: "tags without TagSession", token: e.iss.token(t, now, map[string]any{"https://aws.amazon.com/tags": map[string]any{"principal_tags": map[string]any{"team": []string{"a"}}}}), code: "AccessDenied", status: 403},
		{name: "session name too short", token: good, session: "a", code: "ValidationError", status: 400, msg: "Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{name: "session name 65", token: good, session: strings.Repeat("a", 65), code: "ValidationError", status: 400, msg: "Member must have length less than or equal to 64"},
		{name: "session name space", token: good, session: "bob smith", code: "ValidationError", status: 400, msg: `1 validation error detected: Value 'bob smith' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{name: "session name slash", token: good, session: "a/b", code: "ValidationError", status: 400, msg: `pattern: [\w+=,.@-]*`},
		{name: "session name newline", token: good, session: "a\nb", code: "ValidationError", status: 400},
		{name: "session name NUL", token: good, session: "a\x00b", code: "ValidationError", status: 400},
		{name: "session name non-ASCII", token: good, session: "é", code: "ValidationError", status: 400, msg: "2 validation errors detected"},
		{name: "duration 899", token: good, duration: aws.Int32(899), code: "ValidationError", status: 400, msg: "Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{name: "duration 43201", token: good, duration: aws.Int32(43201), code: "ValidationError", status: 400, msg: "less than or equal to 43200"},
		{name: "duration over role max", token: good, duration: aws.Int32(7201), code: "ValidationError", status: 400, msg: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{name: "policy 2049", token: good, policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"` + strings.Repeat("a", 2049-80) + `"}]}`), code: "ValidationError", status: 400, msg: "2048"},
		{name: "policy malformed", token: good, policy: aws.String(`{"Version":"2012-10-17","Statement":[`), code: "MalformedPolicyDocument", status: 400},
		{name: "policy duplicate keys", token: good, policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}]}`), code: "MalformedPolicyDocument", status: 400},
		{name: "JWKS down", token: e.iss.token(t, now, map[string]any{"__kid": "k2"}), code: "InvalidIdentityToken", status: 400, msg: "Couldn't retrieve verification key from your identity provider", setup: func() { e.iss.jwksDown.Store(true) }},
	}
	secrets := []string{good, hsTok, none}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup()
			}
			role, session := c.role, c.session
			if role == "" {
				role = e.roleARN()
			}
			if session == "" {
				session = "sess"
			}
			before := e.svc.Issued()
			out, err := e.client(nil).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String(role), RoleSessionName: aws.String(session),
				WebIdentityToken: aws.String(c.token), DurationSeconds: c.duration, Policy: c.policy,
			})
			if out != nil {
				t.Fatalf("credentials issued: %+v", out.AssumedRoleUser)
			}
			code, msg, status := apiErr(t, err)
			if code != c.code || status != c.status || !strings.Contains(msg, c.msg) {
				t.Errorf("got %s %d %q, want %s %d containing %q", code, status, msg, c.code, c.status, c.msg)
			}
			if e.svc.Issued() != before {
				t.Error("Issued() changed")
			}
			if ev := e.lastEvent(t); ev.Outcome != "denied" || ev.Code != c.code || ev.Action != "AssumeRoleWithWebIdentity" {
				t.Errorf("audit event = %+v", ev)
			}
			e.assertNoSecrets(t, append(secrets, c.token)...)
		})
	}
	// The typed exceptions decode as such in the SDK.
	_, err = e.client(nil).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(e.roleARN()), RoleSessionName: aws.String("s" + "x"),
		WebIdentityToken: aws.String(e.iss.token(t, now.Add(-time.Hour), nil)),
	})
	var exp *types.ExpiredTokenException
	if !errors.As(err, &exp) {
		t.Errorf("expired token: %T %v, want *types.ExpiredTokenException", err, err)
	}
}

// TestQueryRefusals covers what the SDK would not send.
func TestQueryRefusals(t *testing.T) {
	e := newEnv(t)
	good := e.iss.token(t, e.clk.Now(), nil)
	base := []string{"Action", "AssumeRoleWithWebIdentity", "Version", "2011-06-15", "RoleArn", e.roleARN(), "RoleSessionName", "s1", "WebIdentityToken", good}
	with := func(kv ...string) string { return form(append(append([]string(nil), base...), kv...)...) }
	cases := []struct {
		name, body, query string
		code              string
		status            int
		msg               string
	}{
		{name: "unknown action", body: form("Action", "FlyToTheMoon", "Version", "2011-06-15"), code: "InvalidAction", status: 400, msg: "Could not find operation FlyToTheMoon for version 2011-06-15"},
		{name: "missing action", body: form("Version", "2011-06-15"), code: "MissingAction", status: 400},
		{name: "wrong version", body: form("Action", "GetCallerIdentity", "Version", "2010-01-01"), code: "InvalidAction", status: 400},
		{name: "missing version", body: form("Action", "GetCallerIdentity"), code: "MissingParameter", status: 400},
		{name: "action differs in query and body", query: "Action=GetCallerIdentity", body: with(), code: "InvalidParameterCombination", status: 400},
		{name: "missing role", body: form("Action", "AssumeRoleWithWebIdentity", "Version", "2011-06-15", "RoleSessionName", "s1", "WebIdentityToken", good), code: "ValidationError", status: 400, msg: "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"},
		{name: "missing everything", body: form("Action", "AssumeRoleWithWebIdentity", "Version", "2011-06-15"), code: "ValidationError", status: 400, msg: "3 validation errors detected"},
		{name: "empty session name", body: form("Action", "AssumeRoleWithWebIdentity", "Version", "2011-06-15", "RoleArn", e.roleARN(), "RoleSessionName", "", "WebIdentityToken", good), code: "ValidationError", status: 400, msg: "roleSessionName"},
		{name: "token too long", body: form("Action", "AssumeRoleWithWebIdentity", "Version", "2011-06-15", "RoleArn", e.roleARN(), "RoleSessionName", "s1", "WebIdentityToken", strings.Repeat("a", 20001)), code: "ValidationError", status: 400, msg: "Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000"},
		{name: "duration 0", body: with("DurationSeconds", "0"), code: "ValidationError", status: 400, msg: "greater than or equal to 900"},
		{name: "duration -1", body: with("DurationSeconds", "-1"), code: "ValidationError", status: 400},
		{name: "duration float", body: with("DurationSeconds", "3600.0"), code: "ValidationError", status: 400, msg: "Value '3600.0' at 'durationSeconds'"},
		{name: "duration exp", body: with("DurationSeconds", "1e3"), code: "ValidationError", status: 400},
		{name: "duration hex", body: with("DurationSeconds", "0x10"), code: "ValidationError", status: 400},
		{name: "duration space", body: with("DurationSeconds", " 3600"), code: "ValidationError", status: 400},
		{name: "duration huge", body: with("DurationSeconds", "99999999999999999999"), code: "ValidationError", status: 400},
		{name: "provider id with OIDC token", body: with("ProviderId", "www.amazon.com"), code: "InvalidParameterValue", status: 400},
		{name: "11 policy arns", body: with(policyArns(11)...), code: "ValidationError", status: 400, msg: "less than or equal to 10"},
		{name: "unknown policy arn", body: with("PolicyArns.member.1.arn", "arn:aws:iam::"+testAccount+":policy/Nope"), code: "MalformedPolicyDocument", status: 400},
		{name: "other-account policy arn", body: with("PolicyArns.member.1.arn", "arn:aws:iam::210987654321:policy/ReadOnly"), code: "MalformedPolicyDocument", status: 400},
		{name: "body over MaxBodyBytes", body: with("Padding", strings.Repeat("x", 256<<10+1)), code: "RequestEntityTooLarge", status: 413},
		{name: "unsigned GetCallerIdentity", body: form("Action", "GetCallerIdentity", "Version", "2011-06-15"), code: "MissingAuthenticationToken", status: 403, msg: "Request is missing Authentication Token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.svc.Issued()
			u := e.srv.URL + "/"
			if c.query != "" {
				u += "?" + c.query
			}
			req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r := e.do(t, req)
			if r.code != c.code || r.status != c.status || !strings.Contains(r.message, xmlEscape(c.msg)) || r.typ != "Sender" {
				t.Errorf("got %d %s %q, want %d %s containing %q\n%s", r.status, r.code, r.message, c.status, c.code, c.msg, r.body)
			}
			if strings.Contains(r.body, "<Credentials>") || e.svc.Issued() != before {
				t.Error("credentials issued")
			}
			e.assertNoSecrets(t, good)
		})
	}
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&#39;", `"`, "&#34;").Replace(s)
}

func policyArns(n int) []string {
	var kv []string
	for i := 1; i <= n; i++ {
		kv = append(kv, "PolicyArns.member."+strconv.Itoa(i)+".arn", "arn:aws:iam::"+testAccount+":policy/ReadOnly")
	}
	return kv
}

// TestSignedRefusals covers SigV4 and session-token failures.
func TestSignedRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.assume(t, "alice")
	b := e.assume(t, "bob")
	ak, sk, tk := *a.Credentials.AccessKeyId, *a.Credentials.SecretAccessKey, *a.Credentials.SessionToken
	flip := func(s string, i int) string {
		c := s[i]
		r := byte('A')
		if c == 'A' {
			r = 'B'
		}
		return s[:i] + string(r) + s[i+1:]
	}
	cases := []struct {
		name   string
		creds  aws.CredentialsProvider
		code   string
		status int
		msg    string
	}{
		{name: "tampered token (payload)", creds: staticProvider(ak, sk, flip(tk, len(tk)/2)), code: "InvalidClientTokenId", status: 403, msg: "The security token included in the request is invalid."},
		{name: "tampered token (key id)", creds: staticProvider(ak, sk, flip(tk, 5)), code: "InvalidClientTokenId", status: 403},
		{name: "truncated token", creds: staticProvider(ak, sk, tk[:len(tk)-4]), code: "InvalidClientTokenId", status: 403},
		{name: "no token", creds: staticProvider(ak, sk, ""), code: "InvalidClientTokenId", status: 403},
		{name: "token of another session", creds: staticProvider(ak, sk, *b.Credentials.SessionToken), code: "InvalidClientTokenId", status: 403},
		{name: "wrong secret", creds: staticProvider(ak, flip(sk, 0), tk), code: "SignatureDoesNotMatch", status: 403, msg: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		{name: "secret of another session", creds: staticProvider(ak, *b.Credentials.SecretAccessKey, tk), code: "SignatureDoesNotMatch", status: 403},
		{name: "long-term style key", creds: staticProvider("AKIAIOSFODNN7EXAMPLE", sk, ""), code: "InvalidClientTokenId", status: 403},
		{name: "oversized token", creds: staticProvider(ak, sk, strings.Repeat("A", 17<<10)), code: "InvalidParameterValue", status: 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.svc.Issued()
			_, err := e.client(c.creds).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
			code, msg, status := apiErr(t, err)
			if code != c.code || status != c.status || !strings.Contains(msg, c.msg) {
				t.Errorf("got %s %d %q, want %s %d %q", code, status, msg, c.code, c.status, c.msg)
			}
			if e.svc.Issued() != before {
				t.Error("Issued() changed")
			}
			e.assertNoSecrets(t, sk, tk, *b.Credentials.SecretAccessKey, *b.Credentials.SessionToken)
		})
	}

	// Raw requests signed with the SDK's v4 signer at chosen times.
	signed := func(t *testing.T, at time.Time, mutate func(*http.Request)) rawResponse {
		body := "Action=GetCallerIdentity&Version=2011-06-15"
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk, SessionToken: tk}, req, hex.EncodeToString(sum[:]), "sts", "eu-west-3", at)
		if err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(req)
		}
		return e.do(t, req)
	}
	now := e.clk.Now()
	rawCases := []struct {
		name   string
		at     time.Time
		mutate func(*http.Request)
		code   string
		status int
		msg    string
	}{
		{name: "valid, other region", at: now, status: 200},
		{name: "14 minutes old", at: now.Add(-14 * time.Minute), status: 200},
		{name: "16 minutes old", at: now.Add(-16 * time.Minute), code: "SignatureDoesNotMatch", status: 403, msg: "Signature expired: " + now.Add(-16*time.Minute).UTC().Format("20060102T150405Z") + " is now earlier than"},
		{name: "16 minutes ahead", at: now.Add(16 * time.Minute), code: "SignatureDoesNotMatch", status: 403, msg: "Signature not yet current: "},
		{name: "body changed after signing", at: now, mutate: func(r *http.Request) {
			b := "Action=GetCallerIdentity&Version=2011-06-15&Extra=1"
			r.Body = io.NopCloser(strings.NewReader(b))
			r.ContentLength = int64(len(b))
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "query added after signing", at: now, mutate: func(r *http.Request) { r.URL.RawQuery = "x=1" }, code: "SignatureDoesNotMatch", status: 403},
		{name: "unsigned x-amz header", at: now, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Meta-Evil", "1") }, code: "SignatureDoesNotMatch", status: 403},
		{name: "unsigned payload", at: now, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }, code: "SignatureDoesNotMatch", status: 403},
		{name: "garbled authorization", at: now, mutate: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x") }, code: "IncompleteSignature", status: 400},
		{name: "wrong service scope", at: now, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/sts/", "/s3/", 1))
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "host not signed", at: now, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
		}, code: "SignatureDoesNotMatch", status: 403},
	}
	for _, c := range rawCases {
		t.Run(c.name, func(t *testing.T) {
			r := signed(t, c.at, c.mutate)
			if r.status != c.status || r.code != c.code || !strings.Contains(r.message, c.msg) {
				t.Errorf("got %d %s %q, want %d %s %q", r.status, r.code, r.message, c.status, c.code, c.msg)
			}
		})
	}

	// Expired session: ExpiredToken 403 once the clock passes Expiration.
	e.clk.Advance(time.Hour + time.Second)
	if r := signed(t, e.clk.Now(), nil); r.code != "ExpiredToken" || r.status != 403 || r.message != "The security token included in the request is expired" {
		t.Errorf("expired session: %d %s %q", r.status, r.code, r.message)
	}
	e.assertNoSecrets(t, sk, tk)
}

func TestSessionTagsAndPolicies(t *testing.T) {
	e := newEnv(t)
	tok := e.iss.token(t, e.clk.Now(), map[string]any{
		"https://aws.amazon.com/tags": map[string]any{
			"principal_tags":      map[string]any{"team": []string{"platform"}, "cost-center": []string{"42"}},
			"transitive_tag_keys": []string{"team"},
		},
		"https://aws.amazon.com/source_identity": "alice",
	})
	out, err := e.client(nil).AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(e.taggedARN()), RoleSessionName: aws.String("tagged-session"), WebIdentityToken: aws.String(tok),
		Policy:     aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`),
		PolicyArns: []types.PolicyDescriptorType{{Arn: aws.String("arn:aws:iam::" + testAccount + ":policy/ReadOnly")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.SourceIdentity == nil || *out.SourceIdentity != "alice" {
		t.Errorf("SourceIdentity = %v", out.SourceIdentity)
	}
	if out.PackedPolicySize == nil || *out.PackedPolicySize <= 0 || *out.PackedPolicySize > 100 {
		t.Errorf("PackedPolicySize = %v", out.PackedPolicySize)
	}
	// The session token carries the session: Authenticate recovers it.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte("Action=GetCallerIdentity&Version=2011-06-15"))
	c := out.Credentials
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken},
		req, hex.EncodeToString(sum[:]), "sts", "us-east-1", e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	req.Host = strings.TrimPrefix(e.srv.URL, "http://")
	sess, err := e.svc.Authenticate(req, []byte("Action=GetCallerIdentity&Version=2011-06-15"))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if sess.Tags["team"] != "platform" || sess.Tags["cost-center"] != "42" || len(sess.TransitiveTagKeys) != 1 || sess.SourceIdentity != "alice" ||
		sess.Provider != e.iss.providerARN() || len(sess.PolicyARNs) != 1 || !strings.Contains(sess.Policy, "arn:aws:s3:::b/*") || sess.RoleName != "tagged" {
		t.Errorf("session = %+v", sess)
	}
}
