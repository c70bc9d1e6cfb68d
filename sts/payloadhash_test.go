package sts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The payload hash of the canonical request, as AWS's STS takes it: the
// SHA-256 of the body, for presigned URLs (SDKs presign STS with the hash
// of the empty body; only S3 presigns with the literal UNSIGNED-PAYLOAD,
// and services other than S3 refuse it) and for signed headers (an
// x-amz-content-sha256 header must be signed and equal that hash). A URL
// is signed for one method: botocore's generate_presigned_url signs for
// POST unless told HttpMethod="GET", and a GET of it is refused, at AWS as
// here.
func TestPayloadHashAsAWS(t *testing.T) {
	e := newEnv(t)
	out := e.assume(t, "payload")
	creds := aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey,
		SessionToken: *out.Credentials.SessionToken}
	emptySum := sha256.Sum256(nil)
	empty := hex.EncodeToString(emptySum[:])
	const query = "Action=GetCallerIdentity&Version=2011-06-15"
	// presigned signs method+URL with payloadHash; the URL is then sent with sendMethod.
	presigned := func(t *testing.T, signMethod, sendMethod, rawQuery, payloadHash string) *http.Request {
		t.Helper()
		req, _ := http.NewRequest(signMethod, e.srv.URL+"/?"+rawQuery, nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, payloadHash, "sts", "us-east-1", e.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		send, _ := http.NewRequest(sendMethod, u, nil)
		return send
	}
	// headerSigned signs a POST of body with the x-amz-content-sha256 header set to payloadHash.
	headerSigned := func(t *testing.T, body, payloadHash string) *http.Request {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, "sts", "us-east-1", e.clk.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}
	bodySum := sha256.Sum256([]byte(query))
	cases := []struct {
		name string
		req  func(t *testing.T) *http.Request
		code string // "" = 200
	}{
		{"presigned GET, hash of the empty body", func(t *testing.T) *http.Request {
			return presigned(t, http.MethodGet, http.MethodGet, query, empty)
		}, ""},
		{"presigned for POST (botocore's default), POSTed", func(t *testing.T) *http.Request {
			return presigned(t, http.MethodPost, http.MethodPost, query, empty)
		}, ""},
		{"presigned for POST, fetched with GET", func(t *testing.T) *http.Request {
			return presigned(t, http.MethodPost, http.MethodGet, query, empty)
		}, "SignatureDoesNotMatch"},
		{"presigned GET with UNSIGNED-PAYLOAD (S3's form)", func(t *testing.T) *http.Request {
			return presigned(t, http.MethodGet, http.MethodGet, query, "UNSIGNED-PAYLOAD")
		}, "SignatureDoesNotMatch"},
		{"presigned GET with X-Amz-Content-Sha256=UNSIGNED-PAYLOAD in the query", func(t *testing.T) *http.Request {
			return presigned(t, http.MethodGet, http.MethodGet, query+"&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD")
		}, "SignatureDoesNotMatch"},
		{"signed x-amz-content-sha256 of the body", func(t *testing.T) *http.Request {
			return headerSigned(t, query, hex.EncodeToString(bodySum[:]))
		}, ""},
		{"signed x-amz-content-sha256: UNSIGNED-PAYLOAD", func(t *testing.T) *http.Request {
			return headerSigned(t, query, "UNSIGNED-PAYLOAD")
		}, "SignatureDoesNotMatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.req(t))
			switch {
			case tc.code == "" && (r.status != http.StatusOK || !strings.Contains(r.body, "<GetCallerIdentityResult>")):
				t.Errorf("refused: %d %s %s", r.status, r.code, r.message)
			case tc.code != "" && (r.status != http.StatusForbidden || r.code != tc.code):
				t.Errorf("got %d %q, want 403 %s", r.status, r.code, tc.code)
			}
		})
	}
}
