package sts_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// lengthMsg is AWS's ValidationError text for a member sent empty.
func lengthMsg(member string, min int, sensitive bool) string {
	v := "Value '' at '"
	if sensitive {
		v = "Value at '"
	}
	return v + member + "' failed to satisfy constraint: Member must have length greater than or equal to " + strconv.Itoa(min)
}

// TestEmptyParametersFailMinLength: a parameter sent empty ("Policy=") is
// present, so it fails the member's minimum length (STS-SPEC §2) with AWS's
// ValidationError wording instead of counting as absent — in every action
// that reads it.
func TestEmptyParametersFailMinLength(t *testing.T) {
	e := newChainEnv(t)
	good := e.iss.token(t, e.clk.Now(), nil)
	webBase := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {e.roleARN()},
		"RoleSessionName": {"s1"}, "WebIdentityToken": {good}}
	samlBase := url.Values{"Action": {"AssumeRoleWithSAML"}, "Version": {"2011-06-15"}, "RoleArn": {e.roleARN()},
		"PrincipalArn": {"arn:aws:iam::" + testAccount + ":saml-provider/idp"}, "SAMLAssertion": {"PHNhbWw+"}}
	arBase := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {hopRole}, "RoleSessionName": {"hop1"}}

	out := e.assume(t, "bounds")
	c := out.Credentials
	creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}

	cases := []struct {
		name   string
		base   url.Values
		set    url.Values
		signed bool
		want   string // message substring
	}{
		// AssumeRoleWithWebIdentity (unsigned).
		{"web Policy=", webBase, url.Values{"Policy": {""}}, false, lengthMsg("policy", 1, false)},
		{"web Policy= also fails the pattern", webBase, url.Values{"Policy": {""}}, false, "at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"web ProviderId=", webBase, url.Values{"ProviderId": {""}}, false, lengthMsg("providerId", 4, false)},
		{"web RoleSessionName=", webBase, url.Values{"RoleSessionName": {""}}, false, lengthMsg("roleSessionName", 2, false)},
		{"web RoleArn=", webBase, url.Values{"RoleArn": {""}}, false, lengthMsg("roleArn", 20, false)},
		{"web WebIdentityToken= (sensitive)", webBase, url.Values{"WebIdentityToken": {""}}, false, lengthMsg("webIdentityToken", 4, true)},
		// AssumeRoleWithSAML (unsigned).
		{"saml Policy=", samlBase, url.Values{"Policy": {""}}, false, lengthMsg("policy", 1, false)},
		{"saml PrincipalArn=", samlBase, url.Values{"PrincipalArn": {""}}, false, lengthMsg("principalArn", 20, false)},
		{"saml SAMLAssertion= (sensitive)", samlBase, url.Values{"SAMLAssertion": {""}}, false, lengthMsg("sAMLAssertion", 4, true)},
		// AssumeRole (signed).
		{"assume Policy=", arBase, url.Values{"Policy": {""}}, true, lengthMsg("policy", 1, false)},
		{"assume ExternalId=", arBase, url.Values{"ExternalId": {""}}, true, lengthMsg("externalId", 2, false)},
		{"assume SourceIdentity=", arBase, url.Values{"SourceIdentity": {""}}, true, lengthMsg("sourceIdentity", 2, false)},
		{"assume SerialNumber=", arBase, url.Values{"SerialNumber": {""}}, true, lengthMsg("serialNumber", 9, false)},
		{"assume TokenCode=", arBase, url.Values{"TokenCode": {""}}, true, lengthMsg("tokenCode", 6, false)},
		{"assume RoleSessionName=", arBase, url.Values{"RoleSessionName": {""}}, true, lengthMsg("roleSessionName", 2, false)},
		{"assume empty tag key", arBase, url.Values{"Tags.member.1.Key": {""}, "Tags.member.1.Value": {"v"}}, true, lengthMsg("tags.1.member.key", 1, false)},
		{"assume empty tag key fails the pattern", arBase, url.Values{"Tags.member.1.Key": {""}, "Tags.member.1.Value": {"v"}}, true,
			`at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`},
		{"assume empty transitive key", arBase, url.Values{"Tags.member.1.Key": {"k"}, "Tags.member.1.Value": {"v"}, "TransitiveTagKeys.member.1": {""}}, true,
			lengthMsg("transitiveTagKeys.1.member", 1, false)},
		{"assume empty policy ARN", arBase, url.Values{"PolicyArns.member.1.arn": {""}}, true, lengthMsg("policyArns.1.member.arn", 20, false)},
		// Other signed actions.
		{"GetFederationToken Name=", url.Values{"Action": {"GetFederationToken"}, "Version": {"2011-06-15"}}, url.Values{"Name": {""}}, true, lengthMsg("name", 2, false)},
		{"GetFederationToken Policy=", url.Values{"Action": {"GetFederationToken"}, "Version": {"2011-06-15"}, "Name": {"fed"}}, url.Values{"Policy": {""}}, true, lengthMsg("policy", 1, false)},
		{"GetFederationToken empty tag key", url.Values{"Action": {"GetFederationToken"}, "Version": {"2011-06-15"}, "Name": {"fed"}},
			url.Values{"Tags.member.1.Key": {""}, "Tags.member.1.Value": {"v"}}, true, lengthMsg("tags.1.member.key", 1, false)},
		{"GetSessionToken TokenCode=", url.Values{"Action": {"GetSessionToken"}, "Version": {"2011-06-15"}}, url.Values{"TokenCode": {""}}, true, lengthMsg("tokenCode", 6, false)},
		{"GetSessionToken SerialNumber=", url.Values{"Action": {"GetSessionToken"}, "Version": {"2011-06-15"}}, url.Values{"SerialNumber": {""}}, true, lengthMsg("serialNumber", 9, false)},
		{"GetAccessKeyInfo AccessKeyId=", url.Values{"Action": {"GetAccessKeyInfo"}, "Version": {"2011-06-15"}}, url.Values{"AccessKeyId": {""}}, true, lengthMsg("accessKeyId", 16, false)},
		{"DecodeAuthorizationMessage EncodedMessage=", url.Values{"Action": {"DecodeAuthorizationMessage"}, "Version": {"2011-06-15"}}, url.Values{"EncodedMessage": {""}}, true, lengthMsg("encodedMessage", 1, false)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := url.Values{}
			for k, v := range tc.base {
				p[k] = v
			}
			for k, v := range tc.set {
				p[k] = v
			}
			before := e.svc.Issued()
			var rr rawResponse
			if tc.signed {
				rr = e.signedRaw(t, http.MethodPost, p, creds, "")
			} else {
				rr = e.postForm(t, p.Encode())
			}
			if rr.status != 400 || rr.code != "ValidationError" || !strings.Contains(rr.message, xmlEscape(tc.want)) {
				t.Errorf("got %d %s %q\nwant 400 ValidationError containing %q", rr.status, rr.code, rr.message, tc.want)
			}
			if e.svc.Issued() != before {
				t.Error("credentials issued")
			}
			e.assertNoSecrets(t, good, creds.SecretAccessKey, creds.SessionToken)
		})
	}

	// Absent stays absent: the same requests without the empty members pass
	// validation (AssumeRole succeeds).
	rr := e.signedRaw(t, http.MethodPost, arBase, creds, "")
	if rr.status != 200 {
		t.Errorf("AssumeRole without optional members: %d %s", rr.status, rr.body)
	}
}

// TestMalformedQueryString404: MalformedQueryString is HTTP 404 (STS-SPEC §3).
func TestMalformedQueryString404(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, query, body string
	}{
		{"malformed query string", http.MethodPost, "Action=GetCallerIdentity&Version=%zz", ""},
		{"malformed form body", http.MethodPost, "", "Action=GetCallerIdentity&Version=%zz"},
		{"GET with a body", http.MethodGet, "Action=GetCallerIdentity&Version=2011-06-15", "Action=GetCallerIdentity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := e.srv.URL + "/"
			if tc.query != "" {
				u += "?" + tc.query
			}
			req, err := http.NewRequest(tc.method, u, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rr := e.do(t, req)
			if rr.status != http.StatusNotFound || rr.code != "MalformedQueryString" || rr.typ != "Sender" {
				t.Errorf("got %d %s (%s), want 404 MalformedQueryString", rr.status, rr.code, rr.body)
			}
		})
	}
}
