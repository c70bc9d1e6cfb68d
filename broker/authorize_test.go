package broker

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestReservedContextKey(t *testing.T) {
	cases := []struct {
		key      string
		reserved bool
	}{
		{"aws:MultiFactorAuthPresent", true},
		{"AWS:MULTIFACTORAUTHPRESENT", true},
		{"aws:MultiFactorAuthAge", true},
		{"aws:PrincipalArn", true},
		{"aws:PrincipalTag/team", true},
		{"aws:principaltag/Team", true},
		{"aws:userid", true},
		{"aws:SourceIdentity", true},
		{"aws:TokenIssueTime", true},
		{"aws:To\u212AenIssueTime", true}, // Kelvin sign: strings.ToLower makes it "k", as policy.Context does
		{"aws:CurrentTime", true},
		{"saml:sub", true},
		{"sts:RoleSessionName", true},
		{"accounts.google.com:sub", true},
		{"token.actions.githubusercontent.com:aud", true},
		{"127.0.0.1:8080/oidc:sub", true},
		{"aws:SourceIp", false},
		{"aws:SecureTransport", false},
		{"aws:RequestTag/team", false},
		{"aws:TagKeys", false},
		{"s3:prefix", false},
		{"ec2:ResourceTag/env", false},
	}
	for _, tc := range cases {
		if got := reservedContextKey(strings.ToLower(tc.key)); got != tc.reserved {
			t.Errorf("reservedContextKey(%q) = %v, want %v", tc.key, got, tc.reserved)
		}
	}
}

func TestParseAuthorizeQuestion(t *testing.T) {
	cases := []struct {
		name, body string
		wantErr    string
		wantCtx    map[string][]string
	}{
		{"plain", `{"action":"s3:GetObject","resource":"arn:aws:s3:::b/k"}`, "", map[string][]string{}},
		{"string and list", `{"action":"s3:GetObject","resource":"*","context":{"aws:SourceIp":"10.0.0.1","aws:TagKeys":["a","b"]}}`, "",
			map[string][]string{"aws:SourceIp": {"10.0.0.1"}, "aws:TagKeys": {"a", "b"}}},
		{"empty list", `{"action":"s3:GetObject","resource":"*","context":{"aws:TagKeys":[]}}`, "", map[string][]string{"aws:TagKeys": {}}},
		{"no action", `{"resource":"*"}`, "action is required", nil},
		{"no resource", `{"action":"s3:GetObject"}`, "resource is required", nil},
		{"bool and number values keep their JSON text", `{"action":"s3:GetObject","resource":"*","context":{"aws:SecureTransport":true,"s3:max-keys":10,"s3:list":[1.50,false]}}`, "",
			map[string][]string{"aws:SecureTransport": {"true"}, "s3:max-keys": {"10"}, "s3:list": {"1.50", "false"}}},
		{"null value", `{"action":"s3:GetObject","resource":"*","context":{"aws:SourceIp":null}}`, "must be a string, number or boolean", nil},
		{"object value", `{"action":"s3:GetObject","resource":"*","context":{"aws:SourceIp":{"a":"b"}}}`, "must be a string, number or boolean", nil},
		{"nested list", `{"action":"s3:GetObject","resource":"*","context":{"aws:TagKeys":[["a"]]}}`, "must be a string, number or boolean", nil},
		{"same key twice", `{"action":"s3:GetObject","resource":"*","context":{"s3:prefix":"a","S3:Prefix":"b"}}`, "same key", nil},
		{"no prefix", `{"action":"s3:GetObject","resource":"*","context":{"prefix":"a"}}`, "prefix:name", nil},
		{"empty name", `{"action":"s3:GetObject","resource":"*","context":{"s3:":"a"}}`, "prefix:name", nil},
		{"claims MFA", `{"action":"s3:GetObject","resource":"*","context":{"aws:MultiFactorAuthPresent":"true"}}`, "derived from the session", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var req authorizeRequest
			if err := json.Unmarshal([]byte(tc.body), &req); err != nil {
				t.Fatal(err)
			}
			got, err := parseAuthorizeQuestion(&req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.wantCtx) {
				t.Fatalf("context %v, want %v", got, tc.wantCtx)
			}
			for k, v := range tc.wantCtx {
				if strings.Join(got[k], "\x00") != strings.Join(v, "\x00") || (got[k] == nil) != (v == nil) {
					t.Fatalf("context %v, want %v", got, tc.wantCtx)
				}
			}
		})
	}
}

// FuzzParseAuthorizeQuestion: no body makes the parser panic, and nothing
// it accepts carries a key the STS derives from the session.
func FuzzParseAuthorizeQuestion(f *testing.F) {
	f.Add([]byte(`{"action":"s3:GetObject","resource":"*","context":{"aws:SourceIp":"10.0.0.1","aws:TagKeys":["a"]}}`))
	f.Add([]byte(`{"action":"s3:GetObject","resource":"*","context":{"aws:MultiFactorAuthPresent":"true"}}`))
	f.Add([]byte(`{"action":"s3:GetObject","resource":"*","context":{"AWS:PrincipalTag/x":["a",null]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req authorizeRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if dec.Decode(&req) != nil {
			return
		}
		ctx, err := parseAuthorizeQuestion(&req)
		if err != nil {
			return
		}
		for k := range ctx {
			if reservedContextKey(strings.ToLower(k)) {
				t.Fatalf("accepted session key %q", k)
			}
		}
	})
}
