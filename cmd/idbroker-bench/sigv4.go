package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// creds are temporary credentials issued by the server under test.
type creds struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

const (
	gciBody       = "Action=GetCallerIdentity&Version=2011-06-15"
	amzDateLayout = "20060102T150405Z"
)

// gciSigner builds SigV4-signed GetCallerIdentity requests for one set of
// credentials. The signing key is derived once per day and the signed
// request is rebuilt only when X-Amz-Date changes (once a second), so the
// driver spends almost nothing per request. Not safe for concurrent use.
type gciSigner struct {
	host, region string
	c            creds
	payloadHash  string

	keyDate string
	key     []byte
	reqDate string
	req     []byte
}

func newGCISigner(host, region string, c creds) *gciSigner {
	sum := sha256.Sum256([]byte(gciBody))
	return &gciSigner{host: host, region: region, c: c, payloadHash: hex.EncodeToString(sum[:])}
}

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// sigV4Key is the AWS4 signing key of secret for date/region/service.
func sigV4Key(secret, date, region, service string) []byte {
	k := hmacSum([]byte("AWS4"+secret), date)
	k = hmacSum(k, region)
	k = hmacSum(k, service)
	return hmacSum(k, "aws4_request")
}

// signature returns the hex signature and the SignedHeaders for a
// GetCallerIdentity POST at amzDate.
func (s *gciSigner) signature(amzDate string) (sig, signedHeaders string) {
	date := amzDate[:8]
	if s.keyDate != date {
		s.key, s.keyDate = sigV4Key(s.c.SecretAccessKey, date, s.region, "sts"), date
	}
	signedHeaders = "content-type;host;x-amz-date;x-amz-security-token"
	canonical := "POST\n/\n\n" +
		"content-type:application/x-www-form-urlencoded\n" +
		"host:" + s.host + "\n" +
		"x-amz-date:" + amzDate + "\n" +
		"x-amz-security-token:" + s.c.SessionToken + "\n" +
		"\n" + signedHeaders + "\n" + s.payloadHash
	ch := sha256.Sum256([]byte(canonical))
	scope := date + "/" + s.region + "/sts/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
	return hex.EncodeToString(hmacSum(s.key, toSign)), signedHeaders
}

// request appends the signed request for time now to buf.
func (s *gciSigner) request(buf []byte, now time.Time) []byte {
	amzDate := now.UTC().Format(amzDateLayout)
	if amzDate != s.reqDate {
		sig, sh := s.signature(amzDate)
		scope := amzDate[:8] + "/" + s.region + "/sts/aws4_request"
		r := "POST / HTTP/1.1\r\n" +
			"Host: " + s.host + "\r\n" +
			"Content-Type: application/x-www-form-urlencoded\r\n" +
			"Content-Length: " + strconv.Itoa(len(gciBody)) + "\r\n" +
			"X-Amz-Date: " + amzDate + "\r\n" +
			"X-Amz-Security-Token: " + s.c.SessionToken + "\r\n" +
			"Authorization: AWS4-HMAC-SHA256 Credential=" + s.c.AccessKeyID + "/" + scope +
			", SignedHeaders=" + sh + ", Signature=" + sig + "\r\n" +
			"\r\n" + gciBody
		s.req, s.reqDate = []byte(r), amzDate
	}
	return append(buf, s.req...)
}
