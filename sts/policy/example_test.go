package policy_test

import (
	"fmt"

	"github.com/idbroker/idbroker/sts/policy"
)

// The STS decides AssumeRoleWithWebIdentity with the role's trust policy:
// Principal is the OIDC provider, the context carries the token's claims
// under "<issuer host+path>:<claim>". Tags and a source identity are further
// evaluations of sts:TagSession and sts:SetSourceIdentity.
func ExamplePolicy_Evaluate_trust() {
	trust, err := policy.Parse([]byte(`{
	  "Version": "2012-10-17",
	  "Statement": [{
	    "Sid": "GitHubActions",
	    "Effect": "Allow",
	    "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
	    "Action": "sts:AssumeRoleWithWebIdentity",
	    "Condition": {
	      "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
	      "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/*"}
	    }
	  }]
	}`), policy.Trust)
	if err != nil {
		fmt.Println(err)
		return
	}
	trust.SetName("trust")
	ctx := policy.NewContext()
	ctx.Set("token.actions.githubusercontent.com:aud", "sts.amazonaws.com")
	ctx.Set("token.actions.githubusercontent.com:sub", "repo:octo-org/app:ref:refs/heads/main")
	req := &policy.Request{
		Action:    "sts:AssumeRoleWithWebIdentity",
		Resource:  "arn:aws:iam::123456789012:role/deploy",
		Principal: map[string][]string{"Federated": {"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}},
		Context:   ctx,
	}
	res := trust.Evaluate(req)
	fmt.Println(res.Decision, res.Matched[0].Sid)

	req.Action = "sts:TagSession" // the token carried session tags
	fmt.Println(trust.Evaluate(req).Decision)
	// Output:
	// Allow GitHubActions
	// ImplicitDeny
}

// A session policy can only narrow the role's permissions.
func ExampleAuthorize() {
	role, _ := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":{"Sid":"Read","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`), policy.Identity)
	session, _ := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":{"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"}}`), policy.Identity)
	role.SetName("role")
	session.SetName("session")
	for _, action := range []string{"s3:GetObject", "iam:CreateUser"} {
		res := policy.Authorize(&policy.Request{Action: action, Resource: "arn:aws:s3:::b/k"}, []*policy.Policy{role}, []*policy.Policy{session})
		fmt.Println(action, res.Decision, len(res.Matched))
	}
	// Output:
	// s3:GetObject Allow 2
	// iam:CreateUser ImplicitDeny 0
}

func ExampleParse_malformed() {
	_, err := policy.Parse([]byte(`{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}}`), policy.Identity)
	fmt.Println(err)
	// Output:
	// Duplicate key in policy document. (statement 1, field Effect, duplicate key "Effect")
}
