package sts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkAuthenticate is one SigV4 check of a GetCallerIdentity request
// signed with minted credentials (the caller-identity hot path).
func BenchmarkAuthenticate(b *testing.B) {
	kr, err := GenerateKeyRing()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	s, err := New(Config{AccountID: "123456789012", Keys: kr, Now: func() time.Time { return now },
		Roles: []RoleConfig{{Name: "r", TrustPolicy: []byte(trustAnyOIDC)}}})
	if err != nil {
		b.Fatal(err)
	}
	c, _, err := s.mint(context.Background(), mintParams{role: s.roles["arn:aws:iam::123456789012:role/r"], sessionName: "s", duration: time.Hour, now: now})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	req := httptest.NewRequest(http.MethodPost, "http://sts.test:8443/", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken},
		req, hex.EncodeToString(sum[:]), "sts", "us-east-1", now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(req, body); err != nil {
			b.Fatal(err)
		}
	}
}
