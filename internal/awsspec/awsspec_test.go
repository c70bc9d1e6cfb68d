package awsspec

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestARNs(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{RoleARN("aws", "123456789012", "", "Dev"), "arn:aws:iam::123456789012:role/Dev"},
		{RoleARN("aws-cn", "1", "/team/a/", "Dev"), "arn:aws-cn:iam::1:role/team/a/Dev"},
		{AssumedRoleARN("aws", "1", "Dev", "alice"), "arn:aws:sts::1:assumed-role/Dev/alice"},
		{SAMLProviderARN("aws", "1", "idbroker"), "arn:aws:iam::1:saml-provider/idbroker"},
		{OIDCProviderARN("aws", "1", "idp.example.com/a"), "arn:aws:iam::1:oidc-provider/idp.example.com/a"},
		{PolicyARN("aws", "1", "P"), "arn:aws:iam::1:policy/P"},
		{RootARN("aws", "1"), "arn:aws:iam::1:root"},
		{RoleNameFromARN("arn:aws:iam::1:role/a/b/Name"), "Name"},
		{RoleNameFromARN("arn:aws:iam::1:role/Name"), "Name"},
		{RoleNameFromARN("Name"), ""},
		{RoleNameFromARN("arn:aws:iam::1:user/Name"), ""},
		{PartitionOf("arn:aws-us-gov:iam::1:role/x"), "aws-us-gov"},
		{PartitionOf("arn::iam::1:role/x"), "aws"},
		{PartitionOf("role/x"), "aws"},
		{AccountOf("arn:aws:iam::123456789012:role/a/B"), "123456789012"},
		{AccountOf("arn:aws:sts::1:assumed-role/B/s"), "1"},
		{AccountOf("arn:aws:iam::1"), ""},
		{AccountOf("role/x"), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestValidDurationSeconds(t *testing.T) {
	for n, want := range map[int64]bool{899: false, 900: true, 3600: true, 43200: true, 43201: false, 0: false, -900: false} {
		if got := ValidDurationSeconds(n); got != want {
			t.Errorf("ValidDurationSeconds(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestAlphabets(t *testing.T) {
	for _, r := range "azAZ09_+=,.@-" {
		if !NameRune(r) {
			t.Errorf("NameRune(%q) = false", r)
		}
	}
	for _, r := range " /:é*\u00a0" {
		if NameRune(r) {
			t.Errorf("NameRune(%q) = true", r)
		}
	}
	for _, r := range "aZ9_.:/=+-@ é\u00a0٣" {
		if !TagRune(r) {
			t.Errorf("TagRune(%q) = false", r)
		}
	}
	for _, r := range "*,;\"'\x00\n" {
		if TagRune(r) {
			t.Errorf("TagRune(%q) = true", r)
		}
	}
	for s, want := range map[string]bool{"aws:x": true, "AWS:": true, "aWs:y": true, "aws": false, "awsx:": false, "": false, "x-aws:": false} {
		if got := HasReservedPrefix(s); got != want {
			t.Errorf("HasReservedPrefix(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestSAMLEndpoints(t *testing.T) {
	r, a := SAMLEndpoints("https://broker.example/", "eu-west-1")
	wantR := []string{SAMLRecipient, "https://broker.example/saml", "https://eu-west-1.signin.aws.amazon.com/saml"}
	wantA := []string{SAMLAudience, SAMLRecipient, "https://broker.example/saml", "https://broker.example"}
	if len(r) != len(wantR) || len(a) != len(wantA) {
		t.Fatalf("got %q %q", r, a)
	}
	for i := range r {
		if r[i] != wantR[i] {
			t.Errorf("recipient %d = %q, want %q", i, r[i], wantR[i])
		}
	}
	for i := range a {
		if a[i] != wantA[i] {
			t.Errorf("audience %d = %q, want %q", i, a[i], wantA[i])
		}
	}
	if r, _ := SAMLEndpoints("http://127.0.0.1:8080", "us-east-1"); len(r) != 2 {
		t.Errorf("us-east-1 has no regional endpoint, got %q", r)
	}
}

func TestSubclasses(t *testing.T) {
	if !errors.Is(ErrKeyNotFound, ErrInvalidToken) || errors.Is(ErrInvalidToken, ErrKeyNotFound) {
		t.Error("ErrKeyNotFound must be an ErrInvalidToken, not the reverse")
	}
	if !errors.Is(ErrSAMLIssuedTooLongAgo, ErrSAMLExpired) || errors.Is(ErrSAMLExpired, ErrSAMLIssuedTooLongAgo) {
		t.Error("ErrSAMLIssuedTooLongAgo must be an ErrSAMLExpired, not the reverse")
	}
}

func TestTokenExpiredError(t *testing.T) {
	err := fmt.Errorf("verify: %w", &TokenExpiredError{Expiry: time.Unix(1700000000, 0)})
	te, ok := errors.AsType[*TokenExpiredError](err)
	if !errors.Is(err, ErrTokenExpired) || !ok || te.Expiry.Unix() != 1700000000 {
		t.Fatalf("%v: Is %v, As %v", err, errors.Is(err, ErrTokenExpired), ok)
	}
	if errors.Is(err, ErrInvalidToken) {
		t.Error("a TokenExpiredError is an ErrInvalidToken")
	}
}
