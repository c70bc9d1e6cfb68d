package policy

import "testing"

func TestSmoke(t *testing.T) {
	p, err := Parse([]byte(`{"Version":"2012-10-17","Statement":[
	 {"Sid":"A","Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::bucket/${aws:username}/*"},
	 {"Sid":"D","Effect":"Deny","NotAction":"s3:*","Resource":"*"},
	 {"Sid":"C","Effect":"Allow","Action":["iam:List*"],"Resource":"*","Condition":{"StringLike":{"aws:PrincipalTag/Team":"dev*"}}}]}`), Identity)
	if err != nil {
		t.Fatal(err)
	}
	c := NewContext()
	c.Set("aws:username", "alice")
	c.Set("aws:principaltag/team", "devops")
	for _, tc := range []struct {
		a, r string
		want Decision
	}{
		{"s3:GetObject", "arn:aws:s3:::bucket/alice/x", Allow},
		{"S3:getobject", "arn:aws:s3:::bucket/alice/x/y", Allow},
		{"s3:GetObject", "arn:aws:s3:::bucket/bob/x", ImplicitDeny},
		{"ec2:Run", "*", ExplicitDeny},
		{"iam:ListRoles", "*", ExplicitDeny},
	} {
		got := p.Evaluate(&Request{Action: tc.a, Resource: tc.r, Context: c})
		if got.Decision != tc.want {
			t.Errorf("%s %s: %v want %v (%v)", tc.a, tc.r, got.Decision, tc.want, got.Matched)
		}
	}
	_, err = Parse([]byte(`{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}}`), Identity)
	t.Log(err)
	if err == nil {
		t.Fatal("dup")
	}
}
