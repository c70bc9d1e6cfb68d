package policy

import (
	"fmt"
	"testing"
)

func TestActionMatching(t *testing.T) {
	tests := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "s3:GetObject", true},
		{"s3:GetObject", "s3:GetObject", true},
		{"s3:GetObject", "S3:getobject", true},
		{"IAM:ListAccessKeys", "iam:listaccesskeys", true},
		{"s3:GetObject", "s3:GetObjectAcl", false},
		{"s3:Get*", "s3:GetObjectAcl", true},
		{"s3:Get*", "s3:PutObject", false},
		{"s3:*", "s3:PutObject", true},
		{"s3:*", "s34:PutObject", false},
		{"iam:*AccessKey*", "iam:CreateAccessKey", true},
		{"iam:*AccessKey*", "iam:ListAccessKeys", true},
		{"iam:*AccessKey*", "iam:ListUsers", false},
		{"ec2:Describe?nstances", "ec2:DescribeInstances", true},
		{"ec2:Describe?nstances", "ec2:DescribeXXnstances", false},
		{"sts:AssumeRole", "sts:AssumeRoleWithSAML", false},
		{"sts:AssumeRole*", "sts:AssumeRoleWithSAML", true},
		{"s3:*Object", "s3:GetObject", true},
		{"s3:*Object", "s3:GetObjects", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.action, func(t *testing.T) {
			p := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"`+tc.pattern+`","Resource":"*"}}`, Identity)
			got := p.Evaluate(&Request{Action: tc.action, Resource: "*"}).Decision == Allow
			if got != tc.want {
				t.Errorf("Action %s vs %s = %v, want %v", tc.pattern, tc.action, got, tc.want)
			}
			// NotAction applies exactly where Action does not.
			np := mustParse(t, `{"Statement":{"Effect":"Allow","NotAction":"`+tc.pattern+`","Resource":"*"}}`, Identity)
			if ngot := np.Evaluate(&Request{Action: tc.action, Resource: "*"}).Decision == Allow; ngot == tc.want {
				t.Errorf("NotAction %s vs %s = %v", tc.pattern, tc.action, ngot)
			}
		})
	}
}

func TestResourceMatching(t *testing.T) {
	tests := []struct {
		pattern, resource string
		want              bool
	}{
		{"*", "arn:aws:s3:::b/k", true},
		{"*", "*", true},
		{"arn:aws:s3:::b/k", "arn:aws:s3:::b/k", true},
		{"arn:aws:s3:::b/k", "arn:aws:s3:::b/K", false}, // case-sensitive
		{"arn:aws:s3:::B/*", "arn:aws:s3:::b/k", false},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/dir/sub/k", true}, // * spans '/'
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b", false},
		{"arn:aws:s3:::b*", "arn:aws:s3:::bucket", true},
		{"arn:aws:s3:::b?cket", "arn:aws:s3:::bucket", true},
		{"arn:aws:s3:::*", "arn:aws:s3:::a:b:c", true}, // the resource segment keeps its colons
		{"arn:aws:iam::*:role/*", "arn:aws:iam::123456789012:role/Admin", true},
		{"arn:aws:iam::*:role/*", "arn:aws:iam::123456789012:user/Admin", false},
		{"arn:aws:iam::1*:role/x", "arn:aws:iam::123:x:role/x", false}, // * stays within its segment
		{"arn:aws:ec2:*:123:instance/*", "arn:aws:ec2:us-east-1:123:instance/i-1", true},
		{"arn:aws:ec2:*:123:instance/*", "arn:aws:ec2:us-east-1:124:instance/i-1", false},
		{"arn:aws:ec2:us-*:123:*", "arn:aws:ec2:eu-west-1:123:instance/i-1", false},
		{"arn:*:s3:::b", "arn:aws-cn:s3:::b", true},
		{"arn:aws:s3:*", "arn:aws:s3:::b", true}, // a short pattern's last segment absorbs the rest
		{"arn:aws:s3", "arn:aws:s3:::b", false},
		{"arn:aws:s3:::b", "b", false},
		{"arn:aws:s3:::b", "*", false},
		{"arn:aws:logs:*:*:log-group:/aws/lambda/*", "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/f:log-stream:x", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.resource, func(t *testing.T) {
			p := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"`+tc.pattern+`"}}`, Identity)
			got := p.Evaluate(&Request{Action: "s3:GetObject", Resource: tc.resource}).Decision == Allow
			if got != tc.want {
				t.Errorf("Resource %s vs %s = %v, want %v", tc.pattern, tc.resource, got, tc.want)
			}
			np := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"*","NotResource":"`+tc.pattern+`"}}`, Identity)
			if ngot := np.Evaluate(&Request{Action: "s3:GetObject", Resource: tc.resource}).Decision == Allow; ngot == tc.want {
				t.Errorf("NotResource %s vs %s = %v", tc.pattern, tc.resource, ngot)
			}
		})
	}
}

func TestResourceVariables(t *testing.T) {
	home := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/home/${aws:username}/*"}}`
	tag := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team, 'shared'}/*"}}`
	notRes := func(effect string) string {
		return `{"Version":"2012-10-17","Statement":{"Effect":"` + effect + `","Action":"s3:*","NotResource":"arn:aws:s3:::b/${aws:username}/*"}}`
	}
	tests := []struct {
		name, doc, resource string
		ctx                 ctxm
		want                Decision
	}{
		{"username resolves", home, "arn:aws:s3:::b/home/alice/x", ctxm{"aws:username": {"alice"}}, Allow},
		{"other user's home", home, "arn:aws:s3:::b/home/bob/x", ctxm{"aws:username": {"alice"}}, ImplicitDeny},
		{"username missing: never matches", home, "arn:aws:s3:::b/home/${aws:username}/x", nil, ImplicitDeny},
		{"username missing: not even empty", home, "arn:aws:s3:::b/home//x", nil, ImplicitDeny},
		{"username star is literal", home, "arn:aws:s3:::b/home/bob/x", ctxm{"aws:username": {"*"}}, ImplicitDeny},
		{"username multi-valued", home, "arn:aws:s3:::b/home/a/x", ctxm{"aws:username": {"a", "b"}}, ImplicitDeny},
		{"tag resolves", tag, "arn:aws:s3:::b/red/x", ctxm{"aws:PrincipalTag/Team": {"red"}}, Allow},
		{"tag default", tag, "arn:aws:s3:::b/shared/x", nil, Allow},
		{"tag default not used when set", tag, "arn:aws:s3:::b/shared/x", ctxm{"aws:principaltag/team": {"red"}}, ImplicitDeny},
		{"NotResource resolves (outside)", notRes("Allow"), "arn:aws:s3:::b/bob/x", ctxm{"aws:username": {"alice"}}, Allow},
		{"NotResource resolves (inside)", notRes("Allow"), "arn:aws:s3:::b/alice/x", ctxm{"aws:username": {"alice"}}, ImplicitDeny},
		{"NotResource unresolved never widens an Allow", notRes("Allow"), "arn:aws:s3:::b/alice/x", nil, ImplicitDeny},
		{"NotResource unresolved never narrows a Deny", notRes("Deny"), "arn:aws:s3:::b/alice/x", nil, ExplicitDeny},
		{"2008: variable is literal", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}"}}`, "arn:aws:s3:::b/${aws:username}", ctxm{"aws:username": {"alice"}}, Allow},
		{"2008: variable not substituted", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}"}}`, "arn:aws:s3:::b/alice", ctxm{"aws:username": {"alice"}}, ImplicitDeny},
		{"variable before the 5th colon is literal", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:${aws:username}::b"}}`, "arn:aws:s3:alice::b", ctxm{"aws:username": {"alice"}}, ImplicitDeny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.doc, Identity)
			var ctx *Context
			if tc.ctx != nil {
				ctx = ctxOf(tc.ctx)
			}
			if got := p.Evaluate(&Request{Action: "s3:GetObject", Resource: tc.resource, Context: ctx}); got.Decision != tc.want {
				t.Errorf("got %v, want %v", got.Decision, tc.want)
			}
		})
	}
}

// TestAWSDocExamples are the evaluation examples of the IAM documentation
// (policy evaluation logic, example policies, condition operators pages).
func TestAWSDocExamples(t *testing.T) {
	type check struct {
		action, resource string
		ctx              ctxm
		want             Decision
		matched          string
	}
	tests := []struct {
		name   string
		docs   []string
		checks []check
	}{
		{
			name: "explicit deny overrides allow",
			docs: []string{
				`{"Version":"2012-10-17","Statement":[{"Sid":"AllowS3","Effect":"Allow","Action":"s3:*","Resource":"*"}]}`,
				`{"Version":"2012-10-17","Statement":[{"Sid":"DenyDelete","Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::prod/*"}]}`,
			},
			checks: []check{
				{"s3:DeleteObject", "arn:aws:s3:::prod/k", nil, ExplicitDeny, "p1/DenyDelete/Deny"},
				{"s3:DeleteObject", "arn:aws:s3:::dev/k", nil, Allow, "p0/AllowS3/Allow"},
				{"s3:GetObject", "arn:aws:s3:::prod/k", nil, Allow, "p0/AllowS3/Allow"},
				{"ec2:RunInstances", "*", nil, ImplicitDeny, ""},
			},
		},
		{
			name: "deny everything outside IAM with NotAction (DenyAllExceptIAM)",
			docs: []string{`{"Version":"2012-10-17","Statement":[
				{"Sid":"AllowAll","Effect":"Allow","Action":"*","Resource":"*"},
				{"Sid":"DenyAllButIAM","Effect":"Deny","NotAction":"iam:*","Resource":"*"}]}`},
			checks: []check{
				{"iam:ListUsers", "*", nil, Allow, "p0/AllowAll/Allow"},
				{"s3:GetObject", "*", nil, ExplicitDeny, "p0/DenyAllButIAM/Deny"},
			},
		},
		{
			name: "require MFA: Deny NotAction with BoolIfExists (DenyAllExceptListedIfNoMFA)",
			docs: []string{`{"Version":"2012-10-17","Statement":[
				{"Sid":"AllowAll","Effect":"Allow","Action":"*","Resource":"*"},
				{"Sid":"DenyAllExceptListedIfNoMFA","Effect":"Deny",
				 "NotAction":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:GetUser","iam:ListMFADevices","iam:ListVirtualMFADevices","iam:ResyncMFADevice","sts:GetSessionToken"],
				 "Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`},
			checks: []check{
				{"s3:GetObject", "*", nil, ExplicitDeny, "p0/DenyAllExceptListedIfNoMFA/Deny"},                                           // long-term keys: key absent
				{"s3:GetObject", "*", ctxm{"aws:MultiFactorAuthPresent": {"false"}}, ExplicitDeny, "p0/DenyAllExceptListedIfNoMFA/Deny"}, // session without MFA
				{"s3:GetObject", "*", ctxm{"aws:MultiFactorAuthPresent": {"true"}}, Allow, "p0/AllowAll/Allow"},
				{"iam:EnableMFADevice", "*", nil, Allow, "p0/AllowAll/Allow"},
			},
		},
		{
			name: "ForAllValues on an empty set allows (the documented pitfall)",
			docs: []string{`{"Version":"2012-10-17","Statement":[{"Sid":"TagOnlyAllowed","Effect":"Allow","Action":"ec2:CreateTags","Resource":"*",
				"Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}}]}`},
			checks: []check{
				{"ec2:CreateTags", "*", ctxm{"aws:TagKeys": {"environment"}}, Allow, "p0/TagOnlyAllowed/Allow"},
				{"ec2:CreateTags", "*", ctxm{"aws:TagKeys": {"environment", "owner"}}, ImplicitDeny, ""},
				{"ec2:CreateTags", "*", nil, Allow, "p0/TagOnlyAllowed/Allow"},
			},
		},
		{
			name: "ForAllValues with Null guard (the documented fix)",
			docs: []string{`{"Version":"2012-10-17","Statement":[{"Sid":"TagOnlyAllowed","Effect":"Allow","Action":"ec2:CreateTags","Resource":"*",
				"Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]},"Null":{"aws:TagKeys":"false"}}}]}`},
			checks: []check{
				{"ec2:CreateTags", "*", ctxm{"aws:TagKeys": {"environment"}}, Allow, "p0/TagOnlyAllowed/Allow"},
				{"ec2:CreateTags", "*", nil, ImplicitDeny, ""},
			},
		},
		{
			name: "IfExists: instance types (StringLikeIfExists ec2:InstanceType)",
			docs: []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:RunInstances","Resource":"*",
				"Condition":{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}}}`},
			checks: []check{
				{"ec2:RunInstances", "arn:aws:ec2:us-east-1:1:instance/*", ctxm{"ec2:InstanceType": {"t2.micro"}}, Allow, "p0//Allow"},
				{"ec2:RunInstances", "arn:aws:ec2:us-east-1:1:instance/*", ctxm{"ec2:InstanceType": {"p4d.24xlarge"}}, ImplicitDeny, ""},
				{"ec2:RunInstances", "arn:aws:ec2:us-east-1:1:volume/*", nil, Allow, "p0//Allow"},
			},
		},
		{
			name: "ABAC with aws:PrincipalTag variable",
			docs: []string{`{"Version":"2012-10-17","Statement":[{"Sid":"ProjectObjects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
				"Resource":"arn:aws:s3:::projects/${aws:PrincipalTag/project}/*"},
				{"Sid":"SameTeam","Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*",
				 "Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}]}`},
			checks: []check{
				{"s3:GetObject", "arn:aws:s3:::projects/apollo/plan.txt", ctxm{"aws:PrincipalTag/project": {"apollo"}}, Allow, "p0/ProjectObjects/Allow"},
				{"s3:GetObject", "arn:aws:s3:::projects/gemini/plan.txt", ctxm{"aws:PrincipalTag/project": {"apollo"}}, ImplicitDeny, ""},
				{"s3:GetObject", "arn:aws:s3:::projects/apollo/plan.txt", nil, ImplicitDeny, ""},
				{"secretsmanager:GetSecretValue", "*", ctxm{"aws:PrincipalTag/team": {"red"}, "aws:ResourceTag/team": {"red"}}, Allow, "p0/SameTeam/Allow"},
				{"secretsmanager:GetSecretValue", "*", ctxm{"aws:PrincipalTag/team": {"red"}, "aws:ResourceTag/team": {"blue"}}, ImplicitDeny, ""},
				{"secretsmanager:GetSecretValue", "*", ctxm{"aws:ResourceTag/team": {""}}, ImplicitDeny, ""},
			},
		},
		{
			name: "S3 home folder: ListBucket with s3:prefix and per-user objects",
			docs: []string{`{"Version":"2012-10-17","Statement":[
				{"Sid":"ListHome","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::corp",
				 "Condition":{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}},
				{"Sid":"HomeObjects","Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::corp/home/${aws:username}","arn:aws:s3:::corp/home/${aws:username}/*"]}]}`},
			checks: []check{
				{"s3:ListBucket", "arn:aws:s3:::corp", ctxm{"aws:username": {"alice"}, "s3:prefix": {"home/alice/docs"}}, Allow, "p0/ListHome/Allow"},
				{"s3:ListBucket", "arn:aws:s3:::corp", ctxm{"aws:username": {"alice"}, "s3:prefix": {""}}, Allow, "p0/ListHome/Allow"},
				{"s3:ListBucket", "arn:aws:s3:::corp", ctxm{"aws:username": {"alice"}, "s3:prefix": {"home/bob/"}}, ImplicitDeny, ""},
				{"s3:PutObject", "arn:aws:s3:::corp/home/alice/a.txt", ctxm{"aws:username": {"alice"}}, Allow, "p0/HomeObjects/Allow"},
				{"s3:PutObject", "arn:aws:s3:::corp/home/bob/a.txt", ctxm{"aws:username": {"alice"}}, ImplicitDeny, ""},
			},
		},
		{
			name: "deny by source IP unless via an AWS service",
			docs: []string{`{"Version":"2012-10-17","Statement":[
				{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
				{"Sid":"IPRestrict","Effect":"Deny","Action":"*","Resource":"*",
				 "Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]},"Bool":{"aws:ViaAWSService":"false"}}}]}`},
			checks: []check{
				{"s3:GetObject", "*", ctxm{"aws:SourceIp": {"192.0.2.10"}, "aws:ViaAWSService": {"false"}}, Allow, "p0/All/Allow"},
				{"s3:GetObject", "*", ctxm{"aws:SourceIp": {"198.51.100.10"}, "aws:ViaAWSService": {"false"}}, ExplicitDeny, "p0/IPRestrict/Deny"},
				{"s3:GetObject", "*", ctxm{"aws:SourceIp": {"198.51.100.10"}, "aws:ViaAWSService": {"true"}}, Allow, "p0/All/Allow"},
			},
		},
		{
			name: "deny outside approved regions",
			docs: []string{`{"Version":"2012-10-17","Statement":[
				{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
				{"Sid":"DenyAllOutsideRequestedRegions","Effect":"Deny","NotAction":["iam:*","sts:*"],"Resource":"*",
				 "Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-central-1","eu-west-1"]}}}]}`},
			checks: []check{
				{"ec2:RunInstances", "*", ctxm{"aws:RequestedRegion": {"eu-west-1"}}, Allow, "p0/All/Allow"},
				{"ec2:RunInstances", "*", ctxm{"aws:RequestedRegion": {"us-east-1"}}, ExplicitDeny, "p0/DenyAllOutsideRequestedRegions/Deny"},
				{"sts:GetCallerIdentity", "*", ctxm{"aws:RequestedRegion": {"us-east-1"}}, Allow, "p0/All/Allow"},
			},
		},
		{
			name: "time window with DateGreaterThan and DateLessThan",
			docs: []string{`{"Version":"2012-10-17","Statement":{"Sid":"Window","Effect":"Allow","Action":"ec2:*","Resource":"*",
				"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2020-06-30T23:59:59Z"}}}}`},
			checks: []check{
				{"ec2:StartInstances", "*", ctxm{"aws:CurrentTime": {"2020-05-01T12:00:00Z"}}, Allow, "p0/Window/Allow"},
				{"ec2:StartInstances", "*", ctxm{"aws:CurrentTime": {"2020-07-01T12:00:00Z"}}, ImplicitDeny, ""},
				{"ec2:StartInstances", "*", nil, ImplicitDeny, ""},
			},
		},
		{
			name: "several deny statements are all reported",
			docs: []string{`{"Version":"2012-10-17","Statement":[
				{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},
				{"Sid":"D1","Effect":"Deny","Action":"s3:*","Resource":"*"},
				{"Sid":"D2","Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}`},
			checks: []check{
				{"s3:DeleteBucket", "*", nil, ExplicitDeny, "p0/D1/Deny,p0/D2/Deny"},
				{"s3:GetObject", "*", nil, ExplicitDeny, "p0/D1/Deny"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ps []*Policy
			for i, d := range tc.docs {
				ps = append(ps, mustParseNamed(t, fmt.Sprintf("p%d", i), d, Identity))
			}
			for _, c := range tc.checks {
				var ctx *Context
				if c.ctx != nil {
					ctx = ctxOf(c.ctx)
				}
				got := Authorize(&Request{Action: c.action, Resource: c.resource, Context: ctx}, ps, nil)
				if got.Decision != c.want || sids(got.Matched) != c.matched {
					t.Errorf("%s on %s with %v: %v [%s], want %v [%s]", c.action, c.resource, c.ctx, got.Decision, sids(got.Matched), c.want, c.matched)
				}
			}
		})
	}
}

// TestAuthorizeSessionPolicies: effective permissions = identity ∩ session,
// and a deny anywhere wins (THREATS STS-12).
func TestAuthorizeSessionPolicies(t *testing.T) {
	role := mustParseNamed(t, "role", `{"Version":"2012-10-17","Statement":{"Sid":"Read","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}}`, Identity)
	roleS3 := mustParseNamed(t, "roles3", `{"Version":"2012-10-17","Statement":{"Sid":"S3","Effect":"Allow","Action":"s3:*","Resource":"*"}}`, Identity)
	widen := mustParseNamed(t, "session", `{"Statement":[{"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"}]}`, Identity)
	narrow := mustParseNamed(t, "session", `{"Statement":[{"Sid":"OnlyReports","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/reports/*"}]}`, Identity)
	denyDel := mustParseNamed(t, "session", `{"Statement":[{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoDelete","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}`, Identity)
	roleDeny := mustParseNamed(t, "guard", `{"Statement":{"Sid":"NoIAM","Effect":"Deny","Action":"iam:*","Resource":"*"}}`, Identity)

	tests := []struct {
		name             string
		identity         []*Policy
		session          []*Policy
		action, resource string
		want             Decision
		matched          string
	}{
		{"widening session: role action still allowed", []*Policy{role}, []*Policy{widen}, "s3:GetObject", "arn:aws:s3:::data/x", Allow, "role/Read/Allow,session/Everything/Allow"},
		{"widening session: iam denied", []*Policy{role}, []*Policy{widen}, "iam:CreateUser", "*", ImplicitDeny, ""},
		{"widening session: PutObject denied", []*Policy{role}, []*Policy{widen}, "s3:PutObject", "arn:aws:s3:::data/x", ImplicitDeny, ""},
		{"widening session: other bucket denied", []*Policy{role}, []*Policy{widen}, "s3:GetObject", "arn:aws:s3:::other/x", ImplicitDeny, ""},
		{"narrowing session: inside", []*Policy{role}, []*Policy{narrow}, "s3:GetObject", "arn:aws:s3:::data/reports/q1", Allow, "role/Read/Allow,session/OnlyReports/Allow"},
		{"narrowing session: outside", []*Policy{role}, []*Policy{narrow}, "s3:GetObject", "arn:aws:s3:::data/private/x", ImplicitDeny, ""},
		{"session deny beats role allow", []*Policy{roleS3}, []*Policy{denyDel}, "s3:DeleteObject", "arn:aws:s3:::data/x", ExplicitDeny, "session/NoDelete/Deny"},
		{"session deny leaves the rest", []*Policy{roleS3}, []*Policy{denyDel}, "s3:PutObject", "arn:aws:s3:::data/x", Allow, "roles3/S3/Allow,session/All/Allow"},
		{"identity deny beats session allow", []*Policy{roleS3, roleDeny}, []*Policy{widen}, "iam:PassRole", "*", ExplicitDeny, "guard/NoIAM/Deny"},
		{"nil session: identity alone", []*Policy{role}, nil, "s3:GetObject", "arn:aws:s3:::data/x", Allow, "role/Read/Allow"},
		{"empty non-nil session set: nothing allowed", []*Policy{role}, []*Policy{}, "s3:GetObject", "arn:aws:s3:::data/x", ImplicitDeny, ""},
		{"no identity policy", nil, []*Policy{widen}, "s3:GetObject", "arn:aws:s3:::data/x", ImplicitDeny, ""},
		{"two session policies: either may allow", []*Policy{roleS3}, []*Policy{narrow, widen}, "s3:PutObject", "arn:aws:s3:::x", Allow, "roles3/S3/Allow,session/Everything/Allow"},
		{"nil entries ignored", []*Policy{nil, role}, []*Policy{nil, widen}, "s3:GetObject", "arn:aws:s3:::data/x", Allow, "role/Read/Allow,session/Everything/Allow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Authorize(&Request{Action: tc.action, Resource: tc.resource}, tc.identity, tc.session)
			if got.Decision != tc.want || sids(got.Matched) != tc.matched {
				t.Errorf("got %v [%s], want %v [%s]", got.Decision, sids(got.Matched), tc.want, tc.matched)
			}
		})
	}
}

func TestTrustPolicies(t *testing.T) {
	const acct = "123456789012"
	github := `{"Version":"2012-10-17","Statement":[{"Sid":"GitHub","Effect":"Allow",
		"Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
		"Action":"sts:AssumeRoleWithWebIdentity",
		"Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},
		             "StringLike":{"token.actions.githubusercontent.com:sub":"repo:octo-org/octo-repo:*"}}}]}`
	saml := `{"Version":"2012-10-17","Statement":[{"Sid":"SAML","Effect":"Allow",
		"Principal":{"Federated":"arn:aws:iam::123456789012:saml-provider/Corp"},
		"Action":["sts:AssumeRoleWithSAML","sts:TagSession"],
		"Condition":{"StringEquals":{"SAML:aud":"https://signin.aws.amazon.com/saml"}}},
		{"Sid":"OnlyCostCenterTags","Effect":"Deny","Principal":"*","Action":"sts:TagSession",
		 "Condition":{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["CostCenter","Project"]}}}]}`
	google := `{"Statement":{"Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity",
		"Condition":{"StringEquals":{"accounts.google.com:aud":"client-1"}}}}`
	account := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole",
		"Condition":{"StringEquals":{"sts:ExternalId":"ext-1"}}}}`
	rootARN := `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}}`
	roleARN := `{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:role/ci/Deployer"]},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}}`
	everyone := `{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}`
	awsStar := `{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole*"}}`
	service := `{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}`

	fed := func(p string) map[string][]string { return map[string][]string{"Federated": {p}} }
	aws := func(ids ...string) map[string][]string { return map[string][]string{"AWS": ids} }
	ghProvider := "arn:aws:iam::" + acct + ":oidc-provider/token.actions.githubusercontent.com"
	samlProvider := "arn:aws:iam::" + acct + ":saml-provider/Corp"

	tests := []struct {
		name      string
		doc       string
		action    string
		principal map[string][]string
		ctx       ctxm
		want      Decision
	}{
		{"github ok", github, "sts:AssumeRoleWithWebIdentity", fed(ghProvider), ctxm{"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}, "token.actions.githubusercontent.com:sub": {"repo:octo-org/octo-repo:ref:refs/heads/main"}}, Allow},
		{"github other repo", github, "sts:AssumeRoleWithWebIdentity", fed(ghProvider), ctxm{"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}, "token.actions.githubusercontent.com:sub": {"repo:evil/octo-repo:ref:refs/heads/main"}}, ImplicitDeny},
		{"github wrong audience", github, "sts:AssumeRoleWithWebIdentity", fed(ghProvider), ctxm{"token.actions.githubusercontent.com:aud": {"other"}, "token.actions.githubusercontent.com:sub": {"repo:octo-org/octo-repo:x"}}, ImplicitDeny},
		{"github other provider", github, "sts:AssumeRoleWithWebIdentity", fed("arn:aws:iam::" + acct + ":oidc-provider/evil.example"), ctxm{"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}, "token.actions.githubusercontent.com:sub": {"repo:octo-org/octo-repo:x"}}, ImplicitDeny},
		{"github wrong action", github, "sts:AssumeRole", fed(ghProvider), ctxm{"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}, "token.actions.githubusercontent.com:sub": {"repo:octo-org/octo-repo:x"}}, ImplicitDeny},
		{"github no principal", github, "sts:AssumeRoleWithWebIdentity", nil, ctxm{"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}, "token.actions.githubusercontent.com:sub": {"repo:octo-org/octo-repo:x"}}, ImplicitDeny},
		{"saml ok", saml, "sts:AssumeRoleWithSAML", fed(samlProvider), ctxm{"saml:aud": {"https://signin.aws.amazon.com/saml"}}, Allow},
		{"saml key case-insensitive", saml, "sts:AssumeRoleWithSAML", fed(samlProvider), ctxm{"SAML:AUD": {"https://signin.aws.amazon.com/saml"}}, Allow},
		{"saml wrong recipient", saml, "sts:AssumeRoleWithSAML", fed(samlProvider), ctxm{"saml:aud": {"https://evil.example/saml"}}, ImplicitDeny},
		{"saml tags allowed", saml, "sts:TagSession", fed(samlProvider), ctxm{"saml:aud": {"https://signin.aws.amazon.com/saml"}, "aws:TagKeys": {"CostCenter"}, "aws:RequestTag/CostCenter": {"42"}}, Allow},
		{"saml extra tag denied", saml, "sts:TagSession", fed(samlProvider), ctxm{"saml:aud": {"https://signin.aws.amazon.com/saml"}, "aws:TagKeys": {"CostCenter", "Admin"}}, ExplicitDeny},
		{"google built-in", google, "sts:AssumeRoleWithWebIdentity", fed("accounts.google.com"), ctxm{"accounts.google.com:aud": {"client-1"}}, Allow},
		{"google other built-in", google, "sts:AssumeRoleWithWebIdentity", fed("www.amazon.com"), ctxm{"accounts.google.com:aud": {"client-1"}}, ImplicitDeny},
		{"account: role session of the account", account, "sts:AssumeRole", aws("arn:aws:sts::"+acct+":assumed-role/Dev/alice", "arn:aws:iam::"+acct+":role/Dev"), ctxm{"sts:ExternalId": {"ext-1"}}, Allow},
		{"account: bare id", account, "sts:AssumeRole", aws(acct), ctxm{"sts:ExternalId": {"ext-1"}}, Allow},
		{"account: wrong external id", account, "sts:AssumeRole", aws(acct), ctxm{"sts:ExternalId": {"ext-2"}}, ImplicitDeny},
		{"account: no external id", account, "sts:AssumeRole", aws(acct), nil, ImplicitDeny},
		{"account: other account", account, "sts:AssumeRole", aws("arn:aws:iam::210987654321:user/bob"), ctxm{"sts:ExternalId": {"ext-1"}}, ImplicitDeny},
		{"account: federated caller is not the account", account, "sts:AssumeRole", fed(acct), ctxm{"sts:ExternalId": {"ext-1"}}, ImplicitDeny},
		{"root ARN = whole account", rootARN, "sts:AssumeRole", aws("arn:aws:iam::" + acct + ":user/alice"), nil, Allow},
		{"root ARN, other partition", rootARN, "sts:AssumeRole", aws("arn:aws-cn:iam::" + acct + ":user/alice"), nil, ImplicitDeny},
		{"root ARN, malformed caller", rootARN, "sts:AssumeRole", aws("not-an-arn"), nil, ImplicitDeny},
		{"role ARN exact", roleARN, "sts:AssumeRole", aws("arn:aws:sts::"+acct+":assumed-role/Deployer/run-1", "arn:aws:iam::"+acct+":role/ci/Deployer"), nil, Allow},
		{"role ARN: set source identity", roleARN, "sts:SetSourceIdentity", aws("arn:aws:iam::" + acct + ":role/ci/Deployer"), nil, Allow},
		{"role ARN: other role", roleARN, "sts:AssumeRole", aws("arn:aws:iam::" + acct + ":role/ci/Deployer2"), nil, ImplicitDeny},
		{"role ARN: case-sensitive", roleARN, "sts:AssumeRole", aws("arn:aws:iam::" + acct + ":role/ci/deployer"), nil, ImplicitDeny},
		{"role ARN: session ARN alone does not match", roleARN, "sts:AssumeRole", aws("arn:aws:sts::" + acct + ":assumed-role/Deployer/run-1"), nil, ImplicitDeny},
		{"role ARN: account does not match", roleARN, "sts:AssumeRole", aws(acct), nil, ImplicitDeny},
		{"everyone", everyone, "sts:AssumeRole", nil, nil, Allow},
		{"AWS star is everyone", awsStar, "sts:AssumeRoleWithSAML", fed(samlProvider), nil, Allow},
		{"service", service, "sts:AssumeRole", map[string][]string{"Service": {"ec2.amazonaws.com"}}, nil, Allow},
		{"service other", service, "sts:AssumeRole", map[string][]string{"Service": {"lambda.amazonaws.com"}}, nil, ImplicitDeny},
		{"principal type key case-insensitive in request", service, "sts:AssumeRole", map[string][]string{"service": {"ec2.amazonaws.com"}}, nil, Allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.doc, Trust)
			var ctx *Context
			if tc.ctx != nil {
				ctx = ctxOf(tc.ctx)
			}
			got := p.Evaluate(&Request{Action: tc.action, Resource: "arn:aws:iam::" + acct + ":role/Target", Principal: tc.principal, Context: ctx})
			if got.Decision != tc.want {
				t.Errorf("got %v %v, want %v", got.Decision, got.Matched, tc.want)
			}
		})
	}
}

func TestResourcePolicyNotPrincipal(t *testing.T) {
	p := mustParse(t, `{"Statement":[{"Sid":"All","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"},
		{"Sid":"OnlyAdmin","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::123456789012:user/admin"]},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}]}`, Resource)
	r := &Request{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::b/k", Principal: map[string][]string{"AWS": {"arn:aws:iam::123456789012:user/admin"}}}
	if got := p.Evaluate(r); got.Decision != Allow {
		t.Errorf("admin: %v", got.Decision)
	}
	r.Principal = map[string][]string{"AWS": {"arn:aws:iam::123456789012:user/bob"}}
	if got := p.Evaluate(r); got.Decision != ExplicitDeny {
		t.Errorf("bob: %v", got.Decision)
	}
}

// An identity policy ignores Request.Principal entirely.
func TestIdentityIgnoresPrincipal(t *testing.T) {
	p := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, Identity)
	if got := p.Evaluate(&Request{Action: "s3:GetObject", Resource: "*", Principal: map[string][]string{"AWS": {"x"}}}); got.Decision != Allow {
		t.Fatal(got.Decision)
	}
}

func TestContext(t *testing.T) {
	c := NewContext()
	c.Set("AWS:PrincipalTag/Team", "red")
	if v, ok := c.Get("aws:principaltag/team"); !ok || len(v) != 1 || v[0] != "red" {
		t.Fatalf("Get = %v %v", v, ok)
	}
	c.Add("aws:TagKeys", "a")
	c.Add("AWS:TAGKEYS", "b")
	if v, _ := c.Get("aws:tagkeys"); len(v) != 2 {
		t.Fatalf("Add: %v", v)
	}
	vals := []string{"x"}
	c.Set("k", vals...)
	vals[0] = "mutated"
	if v, _ := c.Get("K"); v[0] != "x" {
		t.Fatal("Set did not copy")
	}
	cl := c.Clone()
	c.Delete("k")
	if _, ok := c.Get("k"); ok {
		t.Fatal("Delete")
	}
	if _, ok := cl.Get("k"); !ok {
		t.Fatal("Clone shares state")
	}
	if got := fmt.Sprint(cl.Keys()); got != "[aws:principaltag/team aws:tagkeys k]" {
		t.Fatalf("Keys = %s", got)
	}
	var nilc *Context
	if _, ok := nilc.Get("x"); ok || nilc.Keys() != nil {
		t.Fatal("nil context")
	}
}
