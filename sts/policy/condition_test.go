package policy

import (
	"strings"
	"testing"
)

type ctxm = map[string][]string

// TestConditionOperators covers every operator of §7.3, with and without
// IfExists and set prefixes, and the missing-key / null quirks.
func TestConditionOperators(t *testing.T) {
	const v12 = Version2012
	tests := []struct {
		name    string
		version string
		cond    string
		ctx     ctxm
		want    bool
	}{
		// String
		{"StringEquals match", v12, `{"StringEquals":{"k":"a"}}`, ctxm{"k": {"a"}}, true},
		{"StringEquals case-sensitive", v12, `{"StringEquals":{"k":"a"}}`, ctxm{"k": {"A"}}, false},
		{"StringEquals absent", v12, `{"StringEquals":{"k":"a"}}`, nil, false},
		{"StringEquals multi-valued request (any)", v12, `{"StringEquals":{"k":"a"}}`, ctxm{"k": {"x", "a"}}, true},
		{"StringEquals values OR-ed", v12, `{"StringEquals":{"k":["a","b"]}}`, ctxm{"k": {"b"}}, true},
		{"StringEquals star is literal", v12, `{"StringEquals":{"k":"a*"}}`, ctxm{"k": {"abc"}}, false},
		{"StringEquals literal star", v12, `{"StringEquals":{"k":"a*"}}`, ctxm{"k": {"a*"}}, true},
		{"StringEquals number value", v12, `{"StringEquals":{"k":5}}`, ctxm{"k": {"5"}}, true},
		{"StringEquals bool value", v12, `{"StringEquals":{"k":true}}`, ctxm{"k": {"true"}}, true},
		{"StringEquals key case-insensitive", v12, `{"StringEquals":{"AWS:UserName":"alice"}}`, ctxm{"aws:username": {"alice"}}, true},
		{"StringEquals tag key case-insensitive", v12, `{"StringEquals":{"aws:PrincipalTag/Dept":"x"}}`, ctxm{"AWS:principaltag/DEPT": {"x"}}, true},
		{"StringNotEquals values AND-ed: one equal", v12, `{"StringNotEquals":{"k":["a","b"]}}`, ctxm{"k": {"a"}}, false},
		{"StringNotEquals none equal", v12, `{"StringNotEquals":{"k":["a","b"]}}`, ctxm{"k": {"c"}}, true},
		{"StringNotEquals absent", v12, `{"StringNotEquals":{"k":"a"}}`, nil, true},
		{"StringNotEquals empty string is null", v12, `{"StringNotEquals":{"k":"a"}}`, ctxm{"k": {""}}, true},
		{"StringNotEquals multi-valued, one equal", v12, `{"StringNotEquals":{"k":"a"}}`, ctxm{"k": {"a", "b"}}, false},
		{"StringEqualsIgnoreCase", v12, `{"StringEqualsIgnoreCase":{"k":"ABC"}}`, ctxm{"k": {"aBc"}}, true},
		{"StringEqualsIgnoreCase latin-1", v12, `{"StringEqualsIgnoreCase":{"k":"ÉTÉ"}}`, ctxm{"k": {"été"}}, true},
		{"StringEqualsIgnoreCase mismatch", v12, `{"StringEqualsIgnoreCase":{"k":"ABC"}}`, ctxm{"k": {"abd"}}, false},
		{"StringNotEqualsIgnoreCase equal", v12, `{"StringNotEqualsIgnoreCase":{"k":"ABC"}}`, ctxm{"k": {"abc"}}, false},
		{"StringNotEqualsIgnoreCase differs", v12, `{"StringNotEqualsIgnoreCase":{"k":"ABC"}}`, ctxm{"k": {"abd"}}, true},
		{"StringLike star and question", v12, `{"StringLike":{"k":"a*c?"}}`, ctxm{"k": {"abxcd"}}, true},
		{"StringLike star spans colons", v12, `{"StringLike":{"k":"repo:org/*"}}`, ctxm{"k": {"repo:org/r:ref:refs/heads/main"}}, true},
		{"StringLike case-sensitive", v12, `{"StringLike":{"k":"a*c?"}}`, ctxm{"k": {"ABCD"}}, false},
		{"StringLike question is one char", v12, `{"StringLike":{"k":"a?"}}`, ctxm{"k": {"abc"}}, false},
		{"StringLike question multibyte", v12, `{"StringLike":{"k":"a?c"}}`, ctxm{"k": {"aéc"}}, true},
		{"StringLike star absent", v12, `{"StringLike":{"k":"*"}}`, nil, false},
		{"StringLike star empty value", v12, `{"StringLike":{"k":"*"}}`, ctxm{"k": {""}}, true},
		{"StringLike empty pattern", v12, `{"StringLike":{"k":""}}`, ctxm{"k": {""}}, true},
		{"StringNotLike matches", v12, `{"StringNotLike":{"k":"dev*"}}`, ctxm{"k": {"devops"}}, false},
		{"StringNotLike differs", v12, `{"StringNotLike":{"k":"dev*"}}`, ctxm{"k": {"prod"}}, true},
		{"StringNotLike absent", v12, `{"StringNotLike":{"k":"dev*"}}`, nil, true},
		{"operator name case-insensitive", v12, `{"stringequals":{"k":"a"}}`, ctxm{"k": {"a"}}, true},

		// Numeric
		{"NumericEquals", v12, `{"NumericEquals":{"k":"10"}}`, ctxm{"k": {"10"}}, true},
		{"NumericEquals decimal form", v12, `{"NumericEquals":{"k":10}}`, ctxm{"k": {"10.0"}}, true},
		{"NumericEquals not a number", v12, `{"NumericEquals":{"k":10}}`, ctxm{"k": {"ten"}}, false},
		{"NumericEquals absent", v12, `{"NumericEquals":{"k":10}}`, nil, false},
		{"NumericNotEquals differs", v12, `{"NumericNotEquals":{"k":10}}`, ctxm{"k": {"11"}}, true},
		{"NumericNotEquals equal", v12, `{"NumericNotEquals":{"k":10}}`, ctxm{"k": {"10"}}, false},
		{"NumericNotEquals absent", v12, `{"NumericNotEquals":{"k":10}}`, nil, true},
		{"NumericLessThan below", v12, `{"NumericLessThan":{"k":10}}`, ctxm{"k": {"9"}}, true},
		{"NumericLessThan equal", v12, `{"NumericLessThan":{"k":10}}`, ctxm{"k": {"10"}}, false},
		{"NumericLessThan decimal", v12, `{"NumericLessThan":{"k":"2"}}`, ctxm{"k": {"1.5"}}, true},
		{"NumericLessThan negative", v12, `{"NumericLessThan":{"k":"0"}}`, ctxm{"k": {"-1"}}, true},
		{"NumericLessThanEquals equal", v12, `{"NumericLessThanEquals":{"k":10}}`, ctxm{"k": {"10"}}, true},
		{"NumericLessThanEquals above", v12, `{"NumericLessThanEquals":{"k":10}}`, ctxm{"k": {"11"}}, false},
		{"NumericGreaterThan above", v12, `{"NumericGreaterThan":{"k":10}}`, ctxm{"k": {"11"}}, true},
		{"NumericGreaterThan equal", v12, `{"NumericGreaterThan":{"k":10}}`, ctxm{"k": {"10"}}, false},
		{"NumericGreaterThanEquals equal", v12, `{"NumericGreaterThanEquals":{"k":10}}`, ctxm{"k": {"10"}}, true},
		{"NumericGreaterThanEquals below", v12, `{"NumericGreaterThanEquals":{"k":10}}`, ctxm{"k": {"9"}}, false},
		{"NumericLessThan MFA age", v12, `{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}`, ctxm{"aws:MultiFactorAuthAge": {"120"}}, true},

		// Date
		{"DateGreaterThan", v12, `{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, ctxm{"aws:CurrentTime": {"2021-06-01T00:00:00Z"}}, true},
		{"DateGreaterThan before", v12, `{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, ctxm{"aws:CurrentTime": {"2019-06-01T00:00:00Z"}}, false},
		{"DateLessThan epoch", v12, `{"DateLessThan":{"aws:EpochTime":"1600000000"}}`, ctxm{"aws:EpochTime": {"1500000000"}}, true},
		{"DateLessThan epoch JSON number", v12, `{"DateLessThan":{"aws:EpochTime":1600000000}}`, ctxm{"aws:EpochTime": {"1700000000"}}, false},
		{"DateEquals ISO vs epoch", v12, `{"DateEquals":{"k":"2020-01-01T00:00:00Z"}}`, ctxm{"k": {"1577836800"}}, true},
		{"DateEquals zone offset", v12, `{"DateEquals":{"k":"2020-01-01T01:00:00+01:00"}}`, ctxm{"k": {"2020-01-01T00:00:00Z"}}, true},
		{"DateEquals date only", v12, `{"DateEquals":{"k":"2020-01-01"}}`, ctxm{"k": {"2020-01-01T00:00:00Z"}}, true},
		{"DateEquals fractional", v12, `{"DateEquals":{"k":"2020-01-01T00:00:00.500Z"}}`, ctxm{"k": {"2020-01-01T00:00:00.5Z"}}, true},
		{"DateNotEquals equal", v12, `{"DateNotEquals":{"k":"2020-01-01T00:00:00Z"}}`, ctxm{"k": {"1577836800"}}, false},
		{"DateNotEquals absent", v12, `{"DateNotEquals":{"k":"2020-01-01T00:00:00Z"}}`, nil, true},
		{"DateLessThanEquals equal", v12, `{"DateLessThanEquals":{"k":"2020-01-01T00:00:00Z"}}`, ctxm{"k": {"2020-01-01T00:00:00Z"}}, true},
		{"DateGreaterThanEquals equal", v12, `{"DateGreaterThanEquals":{"k":"2020-01-01T00:00:00Z"}}`, ctxm{"k": {"2020-01-01T00:00:00Z"}}, true},
		{"DateGreaterThanEquals before", v12, `{"DateGreaterThanEquals":{"k":"2020-01-01T00:00:00Z"}}`, ctxm{"k": {"2019-12-31T23:59:59Z"}}, false},
		{"Date garbage request value", v12, `{"DateLessThan":{"k":"2020-01-01T00:00:00Z"}}`, ctxm{"k": {"yesterday"}}, false},

		// Bool
		{"Bool true", v12, `{"Bool":{"aws:SecureTransport":"true"}}`, ctxm{"aws:SecureTransport": {"true"}}, true},
		{"Bool JSON true", v12, `{"Bool":{"aws:SecureTransport":true}}`, ctxm{"aws:SecureTransport": {"TRUE"}}, true},
		{"Bool mismatch", v12, `{"Bool":{"aws:SecureTransport":"true"}}`, ctxm{"aws:SecureTransport": {"false"}}, false},
		{"Bool absent", v12, `{"Bool":{"aws:SecureTransport":"false"}}`, nil, false},
		{"Bool junk request value", v12, `{"Bool":{"aws:SecureTransport":"false"}}`, ctxm{"aws:SecureTransport": {"no"}}, false},
		{"BoolIfExists absent", v12, `{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}`, nil, true},
		{"BoolIfExists present true", v12, `{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}`, ctxm{"aws:MultiFactorAuthPresent": {"true"}}, false},

		// Binary
		{"BinaryEquals raw bytes", v12, `{"BinaryEquals":{"k":"QmluYXJ5VmFsdWU="}}`, ctxm{"k": {"BinaryValue"}}, true},
		{"BinaryEquals base64 request", v12, `{"BinaryEquals":{"k":"QmluYXJ5VmFsdWU="}}`, ctxm{"k": {"QmluYXJ5VmFsdWU="}}, true},
		{"BinaryEquals mismatch", v12, `{"BinaryEquals":{"k":"QmluYXJ5VmFsdWU="}}`, ctxm{"k": {"binaryvalue"}}, false},

		// IP
		{"IpAddress in CIDR", v12, `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctxm{"aws:SourceIp": {"203.0.113.5"}}, true},
		{"IpAddress outside", v12, `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctxm{"aws:SourceIp": {"198.51.100.1"}}, false},
		{"IpAddress bare IP is /32", v12, `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, ctxm{"aws:SourceIp": {"203.0.113.8"}}, false},
		{"IpAddress bare IP equal", v12, `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, ctxm{"aws:SourceIp": {"203.0.113.7"}}, true},
		{"IpAddress IPv6", v12, `{"IpAddress":{"aws:SourceIp":"2001:DB8::/32"}}`, ctxm{"aws:SourceIp": {"2001:db8::1"}}, true},
		{"IpAddress IPv4-mapped request", v12, `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctxm{"aws:SourceIp": {"::ffff:203.0.113.5"}}, true},
		{"IpAddress unmasked CIDR", v12, `{"IpAddress":{"aws:SourceIp":"203.0.113.77/24"}}`, ctxm{"aws:SourceIp": {"203.0.113.5"}}, true},
		{"IpAddress garbage request", v12, `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, ctxm{"aws:SourceIp": {"localhost"}}, false},
		{"IpAddress any of list", v12, `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}}`, ctxm{"aws:SourceIp": {"10.9.8.7"}}, true},
		{"NotIpAddress inside", v12, `{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24","10.0.0.0/8"]}}`, ctxm{"aws:SourceIp": {"10.1.1.1"}}, false},
		{"NotIpAddress outside", v12, `{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24","10.0.0.0/8"]}}`, ctxm{"aws:SourceIp": {"8.8.8.8"}}, true},
		{"NotIpAddress absent", v12, `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, nil, true},

		// ARN
		{"ArnLike resource wildcard", v12, `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::bucket/*"}}`, ctxm{"aws:SourceArn": {"arn:aws:s3:::bucket/x/y"}}, true},
		{"ArnLike account wildcard", v12, `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/Admin"}}`, ctxm{"aws:PrincipalArn": {"arn:aws:iam::123456789012:role/Admin"}}, true},
		{"ArnLike star stays in its segment", v12, `{"ArnLike":{"k":"arn:aws:iam::1*:role/x"}}`, ctxm{"k": {"arn:aws:iam::123:x:role/x"}}, false},
		{"StringLike star crosses segments", v12, `{"StringLike":{"k":"arn:aws:iam::1*:role/x"}}`, ctxm{"k": {"arn:aws:iam::123:x:role/x"}}, true},
		{"ArnLike resource segment keeps colons", v12, `{"ArnLike":{"k":"arn:aws:logs:*:*:log-group:*"}}`, ctxm{"k": {"arn:aws:logs:us-east-1:1:log-group:g:log-stream:s"}}, true},
		{"ArnLike case-sensitive", v12, `{"ArnLike":{"k":"arn:aws:iam::*:role/Admin"}}`, ctxm{"k": {"arn:aws:iam::1:role/admin"}}, false},
		{"ArnEquals equals ArnLike", v12, `{"ArnEquals":{"k":"arn:aws:sns:*:123456789012:topic"}}`, ctxm{"k": {"arn:aws:sns:us-east-1:123456789012:topic"}}, true},
		{"ArnLike not an ARN", v12, `{"ArnLike":{"k":"arn:aws:sns:*:1:t"}}`, ctxm{"k": {"topic"}}, false},
		{"ArnNotEquals match", v12, `{"ArnNotEquals":{"k":"arn:aws:sns:*:1:t"}}`, ctxm{"k": {"arn:aws:sns:eu-west-1:1:t"}}, false},
		{"ArnNotLike differs", v12, `{"ArnNotLike":{"k":"arn:aws:sns:*:1:t"}}`, ctxm{"k": {"arn:aws:sns:eu-west-1:2:t"}}, true},
		{"ArnNotLike absent", v12, `{"ArnNotLike":{"k":"arn:aws:sns:*:1:t"}}`, nil, true},

		// Null
		{"Null true absent", v12, `{"Null":{"k":"true"}}`, nil, true},
		{"Null true present", v12, `{"Null":{"k":"true"}}`, ctxm{"k": {"x"}}, false},
		{"Null true empty string", v12, `{"Null":{"k":"true"}}`, ctxm{"k": {""}}, true},
		{"Null true no values", v12, `{"Null":{"k":"true"}}`, ctxm{"k": nil}, true},
		{"Null false present", v12, `{"Null":{"k":"false"}}`, ctxm{"k": {"x"}}, true},
		{"Null false absent", v12, `{"Null":{"k":false}}`, nil, false},

		// IfExists
		{"StringEqualsIfExists absent", v12, `{"StringEqualsIfExists":{"k":"a"}}`, nil, true},
		{"StringEqualsIfExists mismatch", v12, `{"StringEqualsIfExists":{"k":"a"}}`, ctxm{"k": {"b"}}, false},
		{"StringEqualsIfExists match", v12, `{"StringEqualsIfExists":{"k":"a"}}`, ctxm{"k": {"a"}}, true},
		{"StringNotEqualsIfExists absent", v12, `{"StringNotEqualsIfExists":{"k":"a"}}`, nil, true},
		{"StringNotEqualsIfExists equal", v12, `{"StringNotEqualsIfExists":{"k":"a"}}`, ctxm{"k": {"a"}}, false},
		{"NumericLessThanIfExists absent", v12, `{"NumericLessThanIfExists":{"k":1}}`, nil, true},
		{"NumericLessThanIfExists present", v12, `{"NumericLessThanIfExists":{"k":1}}`, ctxm{"k": {"2"}}, false},
		{"DateLessThanIfExists absent", v12, `{"DateLessThanIfExists":{"k":"2020-01-01"}}`, nil, true},
		{"IpAddressIfExists absent", v12, `{"IpAddressIfExists":{"k":"10.0.0.0/8"}}`, nil, true},
		{"ArnLikeIfExists absent", v12, `{"ArnLikeIfExists":{"k":"arn:aws:s3:::b"}}`, nil, true},
		{"BinaryEqualsIfExists absent", v12, `{"BinaryEqualsIfExists":{"k":"QQ=="}}`, nil, true},

		// Set operators
		{"ForAllValues subset", v12, `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, ctxm{"aws:TagKeys": {"a"}}, true},
		{"ForAllValues not subset", v12, `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, ctxm{"aws:TagKeys": {"a", "c"}}, false},
		{"ForAllValues absent key is true", v12, `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, nil, true},
		{"ForAllValues empty set is true", v12, `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, ctxm{"aws:TagKeys": nil}, true},
		{"ForAllValues null value is true", v12, `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, ctxm{"aws:TagKeys": {""}}, true},
		{"ForAllValues StringLike", v12, `{"ForAllValues:StringLike":{"k":"dev-*"}}`, ctxm{"k": {"dev-1", "dev-2"}}, true},
		{"ForAllValues StringNotEquals none listed", v12, `{"ForAllValues:StringNotEquals":{"k":["a","b"]}}`, ctxm{"k": {"c", "d"}}, true},
		{"ForAllValues StringNotEquals one listed", v12, `{"ForAllValues:StringNotEquals":{"k":["a","b"]}}`, ctxm{"k": {"c", "a"}}, false},
		{"ForAllValues NumericLessThan", v12, `{"ForAllValues:NumericLessThan":{"k":10}}`, ctxm{"k": {"1", "9"}}, true},
		{"ForAllValues NumericLessThan one too big", v12, `{"ForAllValues:NumericLessThan":{"k":10}}`, ctxm{"k": {"1", "19"}}, false},
		{"ForAnyValue overlap", v12, `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, ctxm{"aws:TagKeys": {"c", "a"}}, true},
		{"ForAnyValue no overlap", v12, `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, ctxm{"aws:TagKeys": {"c"}}, false},
		{"ForAnyValue absent key is false", v12, `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, nil, false},
		{"ForAnyValue empty set is false", v12, `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, ctxm{"aws:TagKeys": nil}, false},
		{"ForAnyValue StringNotEquals some outside", v12, `{"ForAnyValue:StringNotEquals":{"k":"a"}}`, ctxm{"k": {"a", "b"}}, true},
		{"ForAnyValue StringNotEquals all listed", v12, `{"ForAnyValue:StringNotEquals":{"k":"a"}}`, ctxm{"k": {"a"}}, false},
		{"ForAnyValue cognito amr", v12, `{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}`,
			ctxm{"cognito-identity.amazonaws.com:amr": {"authenticated", "graph.facebook.com", "graph.facebook.com:123"}}, true},
		{"ForAnyValue cognito unauthenticated", v12, `{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}`,
			ctxm{"cognito-identity.amazonaws.com:amr": {"unauthenticated"}}, false},
		{"ForAnyValue IfExists absent", v12, `{"ForAnyValue:StringEqualsIfExists":{"k":"a"}}`, nil, true},
		{"set prefix case-insensitive", v12, `{"forallvalues:stringequals":{"k":"a"}}`, ctxm{"k": {"a", "a"}}, true},

		// AND / OR structure
		{"keys AND-ed: one missing", v12, `{"StringEquals":{"a":"1","b":"2"}}`, ctxm{"a": {"1"}}, false},
		{"keys AND-ed: both", v12, `{"StringEquals":{"a":"1","b":"2"}}`, ctxm{"a": {"1"}, "b": {"2"}}, true},
		{"operators AND-ed: one fails", v12, `{"StringEquals":{"a":"1"},"NumericLessThan":{"n":5}}`, ctxm{"a": {"1"}, "n": {"7"}}, false},
		{"operators AND-ed: both", v12, `{"StringEquals":{"a":"1"},"NumericLessThan":{"n":5}}`, ctxm{"a": {"1"}, "n": {"4"}}, true},
		{"empty condition block", v12, `{}`, nil, true},

		// Variables in condition values
		{"variable resolves", v12, `{"StringEquals":{"k":"${aws:username}"}}`, ctxm{"k": {"alice"}, "aws:username": {"alice"}}, true},
		{"variable key case-insensitive", v12, `{"StringEquals":{"k":"${AWS:UserName}"}}`, ctxm{"k": {"alice"}, "aws:username": {"alice"}}, true},
		{"variable differs", v12, `{"StringEquals":{"k":"${aws:username}"}}`, ctxm{"k": {"bob"}, "aws:username": {"alice"}}, false},
		{"variable in the middle of a Like", v12, `{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}`, ctxm{"s3:prefix": {"home/alice/docs"}, "aws:username": {"alice"}}, true},
		{"variable unresolved, positive", v12, `{"StringEquals":{"k":"${aws:username}"}}`, ctxm{"k": {""}}, false},
		{"variable unresolved, negated", v12, `{"StringNotEquals":{"k":"${aws:username}"}}`, ctxm{"k": {"x"}}, true},
		{"variable unresolved, other value still matches", v12, `{"StringEquals":{"k":["${aws:username}","x"]}}`, ctxm{"k": {"x"}}, true},
		{"variable multi-valued key does not resolve", v12, `{"StringEquals":{"k":"${aws:username}"}}`, ctxm{"k": {"a"}, "aws:username": {"a", "b"}}, false},
		{"variable default used", v12, `{"StringEquals":{"k":"${aws:PrincipalTag/team, 'company-wide'}"}}`, ctxm{"k": {"company-wide"}}, true},
		{"variable default not used", v12, `{"StringEquals":{"k":"${aws:PrincipalTag/team, 'company-wide'}"}}`, ctxm{"k": {"company-wide"}, "aws:principaltag/team": {"red"}}, false},
		{"variable value is literal in Like", v12, `{"StringLike":{"k":"${aws:username}"}}`, ctxm{"k": {"abc"}, "aws:username": {"*"}}, false},
		{"variable value literal star equal", v12, `{"StringLike":{"k":"${aws:username}"}}`, ctxm{"k": {"*"}, "aws:username": {"*"}}, true},
		{"escape ${*}", v12, `{"StringLike":{"k":"a${*}"}}`, ctxm{"k": {"a*"}}, true},
		{"escape ${*} not wildcard", v12, `{"StringLike":{"k":"a${*}"}}`, ctxm{"k": {"ab"}}, false},
		{"escape ${?}", v12, `{"StringLike":{"k":"a${?}"}}`, ctxm{"k": {"a?"}}, true},
		{"escape ${?} not wildcard", v12, `{"StringLike":{"k":"a${?}"}}`, ctxm{"k": {"ab"}}, false},
		{"escape ${$}", v12, `{"StringEquals":{"k":"${$}{x}"}}`, ctxm{"k": {"${x}"}}, true},
		{"variable in ArnLike", v12, `{"ArnLike":{"k":"arn:aws:iam::1:user/${aws:username}"}}`, ctxm{"k": {"arn:aws:iam::1:user/alice"}, "aws:username": {"alice"}}, true},
		{"variable in IgnoreCase", v12, `{"StringEqualsIgnoreCase":{"k":"${aws:username}"}}`, ctxm{"k": {"ALICE"}, "aws:username": {"alice"}}, true},
		{"variable OIDC sub", v12, `{"StringEquals":{"k":"${accounts.google.com:sub}"}}`, ctxm{"k": {"1234"}, "accounts.google.com:sub": {"1234"}}, true},
		{"unterminated variable is literal", v12, `{"StringEquals":{"k":"${aws:username"}}`, ctxm{"k": {"${aws:username"}}, true},
		{"2008: variables are literal", Version2008, `{"StringEquals":{"k":"${aws:username}"}}`, ctxm{"k": {"${aws:username}"}, "aws:username": {"alice"}}, true},
		{"2008: variable not substituted", Version2008, `{"StringEquals":{"k":"${aws:username}"}}`, ctxm{"k": {"alice"}, "aws:username": {"alice"}}, false},
		{"no Version: variables are literal", "", `{"StringEquals":{"k":"${aws:username}"}}`, ctxm{"k": {"alice"}, "aws:username": {"alice"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, condDoc(tc.version, tc.cond), Identity)
			var ctx *Context
			if tc.ctx != nil {
				ctx = ctxOf(tc.ctx)
			}
			got := p.Evaluate(&Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctx}).Decision == Allow
			if got != tc.want {
				t.Errorf("condition %s with %v: applies=%v, want %v", tc.cond, tc.ctx, got, tc.want)
			}
		})
	}
}

// TestConditionMalformed: condition blocks IAM (or our fail-closed rules) refuse.
func TestConditionMalformed(t *testing.T) {
	tests := []struct{ name, cond, want string }{
		{"unknown operator", `{"StringEqualz":{"k":"a"}}`, "unknown condition operator"},
		{"prefix on unknown operator", `{"ForAllValues:Foo":{"k":"a"}}`, "unknown condition operator"},
		{"Null IfExists", `{"NullIfExists":{"k":"true"}}`, "Null takes no IfExists"},
		{"Null with set prefix", `{"ForAnyValue:Null":{"k":"true"}}`, "Null takes no IfExists"},
		{"Null bad value", `{"Null":{"k":"maybe"}}`, "invalid boolean"},
		{"Null two values", `{"Null":{"k":["true","false"]}}`, "exactly one value"},
		{"bad CIDR", `{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}`, "invalid CIDR"},
		{"bad IP", `{"IpAddress":{"aws:SourceIp":"10.0.0"}}`, "invalid IP"},
		{"bad date", `{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}`, "invalid date"},
		{"bad number", `{"NumericLessThan":{"k":"ten"}}`, "invalid number"},
		{"number NaN", `{"NumericLessThan":{"k":"NaN"}}`, "invalid number"},
		{"numeric variable", `{"NumericLessThan":{"k":"${aws:EpochTime}"}}`, "invalid number"},
		{"bad base64", `{"BinaryEquals":{"k":"not base64!"}}`, "invalid base64"},
		{"bad bool", `{"Bool":{"k":"yes"}}`, "invalid boolean"},
		{"null value", `{"StringEquals":{"k":null}}`, "not null"},
		{"object value", `{"StringEquals":{"k":{"a":"b"}}}`, "not object"},
		{"empty list", `{"StringEquals":{"k":[]}}`, "non-empty list"},
		{"nested list", `{"StringEquals":{"k":[["a"]]}}`, "not array"},
		{"operator not object", `{"StringEquals":"a"}`, "must map keys"},
		{"operator empty", `{"StringEquals":{}}`, "must map keys"},
		{"condition not object", `["StringEquals"]`, "Condition must be an object"},
		{"duplicate key case-insensitive", `{"StringEquals":{"aws:username":"a","AWS:UserName":"b"}}`, "duplicate condition key"},
		{"duplicate operator case-insensitive", `{"StringEquals":{"a":"a"},"stringequals":{"b":"b"}}`, "duplicate condition operator"},
		{"duplicate key exact", `{"StringEquals":{"a":"1","a":"2"}}`, "duplicate key"},
		{"empty key", `{"StringEquals":{"":"1"}}`, "empty condition key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(condDoc(Version2012, tc.cond)), Identity)
			if err == nil {
				t.Fatalf("Parse accepted %s", tc.cond)
			}
			me := asMalformed(t, err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if me.Statement != 1 {
				t.Errorf("Statement = %d, want 1", me.Statement)
			}
		})
	}
}

// TestLookupOperator pins the §7.3 operator names: every one is known with
// its family, comparison and negation, and near misses are not.
func TestLookupOperator(t *testing.T) {
	known := map[string]opInfo{
		"stringequals": {fam: famString}, "stringnotequals": {fam: famString, neg: true},
		"stringequalsignorecase": {fam: famString, fold: true}, "stringnotequalsignorecase": {fam: famString, fold: true, neg: true},
		"stringlike": {fam: famString, like: true}, "stringnotlike": {fam: famString, like: true, neg: true},
		"numericequals": {fam: famNumeric}, "numericnotequals": {fam: famNumeric, neg: true},
		"numericlessthan": {fam: famNumeric, cmp: cmpLT}, "numericlessthanequals": {fam: famNumeric, cmp: cmpLE},
		"numericgreaterthan": {fam: famNumeric, cmp: cmpGT}, "numericgreaterthanequals": {fam: famNumeric, cmp: cmpGE},
		"dateequals": {fam: famDate}, "datenotequals": {fam: famDate, neg: true},
		"datelessthan": {fam: famDate, cmp: cmpLT}, "datelessthanequals": {fam: famDate, cmp: cmpLE},
		"dategreaterthan": {fam: famDate, cmp: cmpGT}, "dategreaterthanequals": {fam: famDate, cmp: cmpGE},
		"bool": {fam: famBool}, "binaryequals": {fam: famBinary},
		"ipaddress": {fam: famIP}, "notipaddress": {fam: famIP, neg: true},
		"arnequals": {fam: famARN, like: true}, "arnlike": {fam: famARN, like: true},
		"arnnotequals": {fam: famARN, like: true, neg: true}, "arnnotlike": {fam: famARN, like: true, neg: true},
		"null": {fam: famNull},
	}
	for name, want := range known {
		if got, ok := lookupOperator(name); !ok || got != want {
			t.Errorf("lookupOperator(%q) = %+v, %v; want %+v", name, got, ok, want)
		}
	}
	for _, name := range []string{"", "numeric", "date", "numericequalsx", "datelike", "numericlike", "stringequalsx", "StringEquals", "ifexists"} {
		if got, ok := lookupOperator(name); ok {
			t.Errorf("lookupOperator(%q) = %+v, want unknown", name, got)
		}
	}
}
