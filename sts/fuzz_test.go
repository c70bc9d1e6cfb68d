package sts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// sdkRequest is one request as an AWS client sent it: the AWS CLI and
// boto3 (signed calls of every action, the unsigned AssumeRoleWith*
// calls, presigned GetCallerIdentity URLs with and without an extra signed
// header; boto3's default presigned URL, signed for POST, POSTed and
// fetched with GET; the same request presigned by botocore's S3 signer with
// UNSIGNED-PAYLOAD), captured at a loopback listener with example
// credentials. They seed the fuzz targets of the Query API and SigV4
// parsers.
type sdkRequest struct {
	Method, Path, Body string
	Headers            map[string]string
}

func sdkRequests(f *testing.F) []sdkRequest {
	f.Helper()
	file, err := os.Open("testdata/sdk-requests.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	var out []sdkRequest
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r sdkRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			f.Fatal(err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil || len(out) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	return out
}

func (r sdkRequest) rawQuery() string {
	_, q, _ := strings.Cut(r.Path, "?")
	return q
}

// newFuzzRequest builds a request without httptest.NewRequest's panics on
// odd methods.
func newFuzzRequest(method, rawQuery string, header http.Header, body []byte) *http.Request {
	r := &http.Request{
		Method: method, URL: &url.URL{Path: "/", RawQuery: rawQuery}, Host: "127.0.0.1:8080",
		Header: header, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		RemoteAddr: "127.0.0.1:40000",
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	return r.WithContext(context.Background())
}

// wantAWSError fails unless err is an *Error with one of the codes, each
// with its HTTP status.
func wantAWSError(t *testing.T, err error, codes map[string]int) {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("%T is not an AWS error: %v", err, err)
	}
	status, ok := codes[ae.Code]
	if !ok || ae.Status != status {
		t.Fatalf("refused with %s (%d): %s", ae.Code, ae.Status, ae.Message)
	}
}

// parseCodes are the refusals of the Query API's parse.
var parseCodes = map[string]int{
	"MethodNotAllowed": 405, "RequestEntityTooLarge": 413, "MalformedQueryString": 404,
	"UnsupportedMediaType": 415, "InvalidParameterCombination": 400, "MissingAction": 400,
	"MissingParameter": 400, "InvalidAction": 400,
}

// fuzzService is an STS whose unsigned actions get past verification: a
// web identity verifier that accepts any token and a SAML verifier that
// returns a fresh assertion, so the fuzzer reaches validation, the trust
// check and minting.
func fuzzService(f *testing.F) *Service {
	f.Helper()
	kr, err := GenerateKeyRing()
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{AccountID: tkAccount, Keys: kr, Logger: slog.New(slog.DiscardHandler),
		Roles: []RoleConfig{
			{Name: "r", TrustPolicy: []byte(trustAnyOIDC)},
			{Name: "saml-tls", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + tkSAMLARN + `"},"Action":["sts:AssumeRoleWithSAML","sts:TagSession"]}]}`)},
		},
		OIDCProviders:   []OIDCProvider{{Issuer: benchIssuer, Verifier: fixedVerifier{}}},
		SAMLProviders:   []SAMLProvider{{Name: "idp", Verifier: &samlDouble{}}},
		SAMLReplayCache: freshClaims{},
	})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzParseQuery: the Query API's reading of a request (method, query
// string, Content-Type, body; repeated parameters; X.member.N lists)
// never panics; a refusal is one of parse's AWS errors; a parse that
// succeeds names an action and the API version, and its parameters come
// back the same from their own form encoding; the member lists either
// read or are a ValidationError. The request is then served whole (the
// unsigned actions reach their verifier doubles): never a panic, never an
// InternalFailure, always an AWS envelope with the request id.
func FuzzParseQuery(f *testing.F) {
	for _, r := range sdkRequests(f) {
		f.Add(r.Method, r.rawQuery(), r.Headers["Content-Type"], []byte(r.Body))
	}
	form := "application/x-www-form-urlencoded"
	f.Add("POST", "Action=GetCallerIdentity", form, []byte("Version=2011-06-15&Action=GetCallerIdentity"))
	f.Add("POST", "", form, []byte("Action=A&Action=B&Version=2011-06-15"))
	f.Add("POST", "", form, []byte("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s1&WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSJ9.c2ln&PolicyArns.member.1.arn=x&DurationSeconds=900"))
	f.Add("POST", "", form, []byte("Action=AssumeRoleWithSAML&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fsaml-tls&PrincipalArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Asaml-provider%2Fidp&SAMLAssertion=PHNhbWw%2B"))
	f.Add("POST", "", form, []byte("Action=X&Version=2011-06-15&Tags.member.2.Key=b&Tags.member.01.Key=a&Tags.member.1001.Value=c"))
	f.Add("GET", "Action=GetCallerIdentity&Version=2011-06-15&x=%zz", "", []byte(nil))
	f.Add("PUT", "", "text/plain", []byte("a;b"))
	svc := fuzzService(f)
	parser := &Service{}
	f.Fuzz(func(t *testing.T, method, rawQuery, contentType string, body []byte) {
		header := http.Header{}
		if contentType != "" {
			header.Set("Content-Type", contentType)
		}
		req, err := parser.parse(httptest.NewRecorder(), newFuzzRequest(method, rawQuery, header, body), "req-1", "127.0.0.1")
		if err != nil {
			wantAWSError(t, err, parseCodes)
		} else {
			checkParsed(t, parser, req)
		}

		w := httptest.NewRecorder()
		svc.ServeHTTP(w, newFuzzRequest(method, rawQuery, header.Clone(), body))
		if w.Code >= 500 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		id := w.Header().Get("X-Amzn-Requestid")
		if id == "" || !strings.Contains(w.Body.String(), "<RequestId>"+id+"</RequestId>") {
			t.Fatalf("no request id in %q", w.Body)
		}
		if err := xml.Unmarshal(w.Body.Bytes(), new(struct{})); err != nil {
			t.Fatalf("not XML: %v: %q", err, w.Body)
		}
	})
}

// checkParsed states what a successful parse guarantees.
func checkParsed(t *testing.T, parser *Service, req *Request) {
	t.Helper()
	if req.Action == "" || req.Get("Action") != req.Action || req.Get("Version") != apiVersion {
		t.Fatalf("parsed without action or version: %q %q", req.Action, req.Get("Version"))
	}
	for k, vs := range req.params {
		for _, v := range vs {
			if v != vs[0] {
				t.Fatalf("parameter %q kept two values: %q", k, vs)
			}
		}
	}
	// The parameters read back the same from their own form encoding.
	enc := []byte(url.Values(req.params).Encode())
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	again, err := parser.parse(httptest.NewRecorder(), newFuzzRequest(http.MethodPost, "", h, enc), "req-2", "127.0.0.1")
	if err != nil {
		t.Fatalf("the form encoding of a parsed request is refused: %v (%q)", err, enc)
	}
	if len(again.params) != len(req.params) {
		t.Fatalf("%d parameters, %d after a round trip", len(req.params), len(again.params))
	}
	for k := range req.params {
		if a, b := req.Get(k), again.Get(k); a != b {
			t.Fatalf("%q: %q, %q after a round trip", k, a, b)
		}
	}
	// Every list the request names reads, or is a ValidationError.
	lists := map[string]bool{}
	for k := range req.params {
		if name, _, ok := strings.Cut(k, ".member."); ok {
			lists[name] = true
		}
	}
	validation := map[string]int{"ValidationError": 400}
	for name := range lists {
		items, err := req.List(name)
		if err != nil {
			wantAWSError(t, err, validation)
			continue
		}
		structs, err := req.StructList(name, "Key", "Value", "arn")
		if err != nil {
			t.Fatalf("List(%q) reads but StructList does not: %v", name, err)
		}
		if len(items) > maxListMembers || len(structs) > maxListMembers {
			t.Fatalf("list %q has %d members", name, len(items))
		}
	}
}

// sigV4Codes are the refusals of SigV4 parsing and verification.
var sigV4Codes = map[string]int{
	"MissingAuthenticationToken": 403, "IncompleteSignature": 400, "SignatureDoesNotMatch": 403,
	"InvalidClientTokenId": 403, "ExpiredToken": 403, "RequestExpired": 400, "InvalidParameterValue": 400,
}

// checkSigV4Parts states what a parse that succeeds guarantees, and that
// the signature inputs read back the same when the client's form is
// written again from them (render).
func checkSigV4Parts(t *testing.T, r *http.Request, p *sigV4Parts, render func(*sigV4Parts) *http.Request) {
	t.Helper()
	switch {
	case p.akid == "" || p.region == "" || p.service != sigV4Service || p.terminator != sigV4Terminator:
		t.Fatalf("credential scope %q/%q/%q/%q/%q", p.akid, p.date, p.region, p.service, p.terminator)
	case len(p.signature) != 64 || p.date != p.amzDateRaw[:8] || p.amzDate.IsZero():
		t.Fatalf("signature %q, date %q, X-Amz-Date %q", p.signature, p.date, p.amzDateRaw)
	case !slices.IsSorted(p.signedHeaders) || !slices.Contains(p.signedHeaders, "host") || len(slices.Compact(slices.Clone(p.signedHeaders))) != len(p.signedHeaders):
		t.Fatalf("signed headers %q", p.signedHeaders)
	}
	_ = canonicalRequest(r, p, hexSHA256(nil))
	again, err := parseSigV4(render(p))
	if err != nil {
		t.Fatalf("the signature inputs written again are refused: %v", err)
	}
	if again.akid != p.akid || again.date != p.date || again.region != p.region || again.signature != p.signature ||
		again.signedHeadersRaw != p.signedHeadersRaw || again.amzDateRaw != p.amzDateRaw ||
		again.token != p.token || again.tokenPresent != p.tokenPresent || again.expires != p.expires {
		t.Fatalf("round trip: %+v, then %+v", p, again)
	}
}

// FuzzParseSigV4Authorization: the Authorization header form of SigV4
// (with X-Amz-Date, X-Amz-Security-Token and x-amz-content-sha256) never
// panics; a refusal is one of SigV4's AWS errors; a parse that succeeds
// holds a well-formed credential scope, signature and signed-header list,
// and reads back the same from the header written again from it. The whole
// verification (session token, canonical request, signature) refuses
// every such request with an AWS error too.
func FuzzParseSigV4Authorization(f *testing.F) {
	for _, r := range sdkRequests(f) {
		if a := r.Headers["Authorization"]; a != "" {
			f.Add(a, r.Headers["X-Amz-Date"], r.Headers["X-Amz-Security-Token"], "", r.Body)
		}
	}
	f.Add("AWS4-HMAC-SHA256 Credential=ASIA/20260101/us-east-1/sts/aws4_request,SignedHeaders=host;x-amz-date,Signature="+strings.Repeat("0", 64),
		"20260101T000000Z", "", "UNSIGNED-PAYLOAD", "Action=GetCallerIdentity&Version=2011-06-15")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/sts/aws4_request, Credential=x", "", "t", "", "")
	svc := fuzzService(f)
	f.Fuzz(func(t *testing.T, authorization, amzDate, token, contentSHA, body string) {
		build := func(auth string) *http.Request {
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}
			if auth != "" {
				h.Set("Authorization", auth)
			}
			if amzDate != "" {
				h.Set("X-Amz-Date", amzDate)
			}
			if token != "" {
				h.Set("X-Amz-Security-Token", token)
			}
			if contentSHA != "" {
				h.Set("X-Amz-Content-Sha256", contentSHA)
			}
			return newFuzzRequest(http.MethodPost, "", h, []byte(body))
		}
		r := build(authorization)
		p, err := parseSigV4(r)
		if err != nil {
			wantAWSError(t, err, sigV4Codes)
		} else {
			if p.presigned {
				t.Fatal("a header-signed request parsed as presigned")
			}
			checkSigV4Parts(t, r, p, func(p *sigV4Parts) *http.Request {
				return build(sigV4Algorithm + " Credential=" + p.akid + "/" + p.date + "/" + p.region + "/" + p.service + "/" + p.terminator +
					", SignedHeaders=" + p.signedHeadersRaw + ", Signature=" + p.signature)
			})
		}
		if _, err := svc.Authenticate(build(authorization), []byte(body)); err == nil {
			t.Fatal("a fuzzed request authenticated")
		} else {
			wantAWSError(t, err, sigV4Codes)
		}
	})
}

// FuzzParseSigV4Presign: the query-string (presigned URL) form of SigV4
// never panics; a refusal is one of SigV4's AWS errors; a parse that
// succeeds holds a well-formed scope, signature, signed headers and
// expiry, and reads back the same from the query written again from it.
func FuzzParseSigV4Presign(f *testing.F) {
	for _, r := range sdkRequests(f) {
		if q := r.rawQuery(); strings.Contains(q, "X-Amz-") {
			f.Add(q)
		}
	}
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("a", 64))
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=-1")
	// A presigner that names its payload hash in the query (S3's UNSIGNED-PAYLOAD).
	f.Add("Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&X-Amz-Credential=ASIAEXAMPLEEXAMPLE00%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLEtoken&X-Amz-Signature=" + strings.Repeat("b", 64))
	svc := fuzzService(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := newFuzzRequest(http.MethodGet, rawQuery, nil, nil)
		_ = canonicalQuery(rawQuery, true)
		p, err := parseSigV4(r)
		if err != nil {
			wantAWSError(t, err, sigV4Codes)
		} else {
			if !p.presigned {
				t.Fatal("a query-signed request parsed as header-signed")
			}
			if p.expires < 0 || p.expires > maxPresignTTL {
				t.Fatalf("X-Amz-Expires %v", p.expires)
			}
			_ = checkSigV4Time(p, time.Now())
			checkSigV4Parts(t, r, p, func(p *sigV4Parts) *http.Request {
				q := url.Values{
					"X-Amz-Algorithm": {sigV4Algorithm}, "X-Amz-Credential": {p.akid + "/" + p.date + "/" + p.region + "/" + p.service + "/" + p.terminator},
					"X-Amz-Date": {p.amzDateRaw}, "X-Amz-SignedHeaders": {p.signedHeadersRaw}, "X-Amz-Signature": {p.signature},
				}
				if p.expires > 0 {
					q.Set("X-Amz-Expires", r.URL.Query().Get("X-Amz-Expires"))
				}
				if p.tokenPresent {
					q.Set("X-Amz-Security-Token", p.token)
				}
				return newFuzzRequest(http.MethodGet, q.Encode(), nil, nil)
			})
		}
		if _, err := svc.Authenticate(newFuzzRequest(http.MethodGet, rawQuery, nil, nil), nil); err == nil {
			t.Fatal("a fuzzed request authenticated")
		} else {
			wantAWSError(t, err, sigV4Codes)
		}
	})
}
