package sts_test

import (
	"errors"
	"testing"
	"time"

	"github.com/idbroker/idbroker/sts"
)

func TestSessionFromToken(t *testing.T) {
	e := newEnv(t)
	out := e.assume(t, "plain-form")
	akid, token := *out.Credentials.AccessKeyId, *out.Credentials.SessionToken

	sess, err := e.svc.SessionFromToken(akid, token)
	if err != nil {
		t.Fatalf("genuine token: %v", err)
	}
	if sess.AssumedRoleARN() != *out.AssumedRoleUser.Arn || sess.AccessKeyID != akid {
		t.Fatalf("session %+v", sess)
	}
	tampered := []byte(token)
	tampered[len(tampered)/2] ^= 1
	cases := []struct {
		name, akid, token, code string
	}{
		{"tampered token", akid, string(tampered), "InvalidClientTokenId"},
		{"other access key id", "ASIAAAAAAAAAAAAAAAAA", token, "InvalidClientTokenId"},
		{"long-term key id", "AKIA" + akid[4:], token, "InvalidClientTokenId"},
		{"empty token", akid, "", "InvalidClientTokenId"},
		{"oversized token", akid, string(make([]byte, 20<<10)), "InvalidParameterValue"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.SessionFromToken(tc.akid, tc.token)
			var se *sts.Error
			if !errors.As(err, &se) || se.Code != tc.code {
				t.Fatalf("err %v, want %s", err, tc.code)
			}
		})
	}
	e.clk.Advance(2 * time.Hour)
	if _, err := e.svc.SessionFromToken(akid, token); err == nil || err.(*sts.Error).Code != "ExpiredToken" {
		t.Fatalf("expired: %v", err)
	}
}
