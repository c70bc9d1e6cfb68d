package policy

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name    string
		kind    Kind
		doc     string
		stmts   int
		version string
	}{
		{"statement object", Identity, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`, 1, Version2012},
		{"statement list, string-or-list everywhere", Identity, `{"Version":"2012-10-17","Id":"x","Statement":[
			{"Sid":"A1","Effect":"Allow","Action":["s3:GetObject","s3:List*"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]},
			{"Sid":"A2","Effect":"Deny","NotAction":"iam:*","NotResource":["arn:aws:s3:::b/*"]}]}`, 2, Version2012},
		{"2008 version", Identity, `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, 1, Version2008},
		{"no version is 2008", Identity, `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, 1, Version2008},
		{"empty Sid", Identity, `{"Statement":[{"Sid":"","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"","Effect":"Allow","Action":"*","Resource":"*"}]}`, 2, Version2008},
		{"trust OIDC", Trust, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}}]}`, 1, Version2012},
		{"trust AWS list and star", Trust, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::210987654321:root","arn:aws:iam::123456789012:role/path/R","arn:aws:sts::123456789012:assumed-role/R/s","AROAEXAMPLEID1234567"]},"Action":["sts:AssumeRole","sts:TagSession"]},{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}]}`, 2, Version2012},
		{"trust Service", Trust, `{"Statement":{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}}`, 1, Version2008},
		{"resource policy NotPrincipal", Resource, `{"Statement":{"Sid":"any chars allowed here","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/a"},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"}}`, 1, Version2008},
		{"latin-1 text", Identity, `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/été"}}`, 1, Version2008},
		{"whitespace", Identity, " \n\t{ \"Statement\" :\r\n {\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"} } \n", 1, Version2008},
		{"resource partial ARN", Identity, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3"}}`, 1, Version2008},
		{"action with wildcards", Identity, `{"Statement":{"Effect":"Allow","Action":["iam:*AccessKey*","ec2:Describe?nstances"],"Resource":"*"}}`, 1, Version2008},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.doc, tc.kind)
			if p.Statements() != tc.stmts || p.Version() != tc.version || p.Kind() != tc.kind {
				t.Errorf("got %d statements, version %s, kind %v", p.Statements(), p.Version(), p.Kind())
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	allow := `"Effect":"Allow","Action":"*","Resource":"*"`
	tests := []struct {
		name   string
		kind   Kind
		doc    string
		reason string // prefix of MalformedError.Reason
		stmt   int
		field  string
	}{
		{"not JSON", Identity, `{"Statement":`, reasonSyntax, 0, ""},
		{"empty", Identity, ``, reasonSyntax, 0, ""},
		{"not an object", Identity, `[]`, reasonSyntax, 0, ""},
		{"trailing data", Identity, `{"Statement":{` + allow + `}}{}`, reasonSyntax, 0, ""},
		{"trailing garbage", Identity, `{"Statement":{` + allow + `}} x`, reasonSyntax, 0, ""},
		{"too deep", Identity, `{"Statement":{` + allow + `,"Condition":{"StringEquals":{"k":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}}}`, reasonSyntax, 0, ""},
		{"duplicate Effect", Identity, `{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}}`, reasonDuplicate, 1, "Effect"},
		{"duplicate Effect in 2nd statement", Identity, `{"Statement":[{` + allow + `},{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}]}`, reasonDuplicate, 2, "Effect"},
		{"duplicate Statement", Identity, `{"Statement":{` + allow + `},"Statement":{` + allow + `}}`, reasonDuplicate, 0, "Statement"},
		{"duplicate key inside Condition", Identity, `{"Statement":{` + allow + `,"Condition":{"Bool":{"a":"true","a":"false"}}}}`, reasonDuplicate, 1, "Condition"},
		{"duplicate Principal type", Trust, `{"Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012","AWS":"*"},"Action":"sts:AssumeRole"}}`, reasonDuplicate, 1, "Principal"},
		{"bad version", Identity, `{"Version":"2012-10-18","Statement":{` + allow + `}}`, reasonVersion, 0, "Version"},
		{"version not string", Identity, `{"Version":2012,"Statement":{` + allow + `}}`, reasonSyntax, 0, "Version"},
		{"unknown top-level element", Identity, `{"Statment":{` + allow + `}}`, reasonSyntax, 0, "Statment"},
		{"no Statement", Identity, `{"Version":"2012-10-17"}`, reasonNoStatement, 0, "Statement"},
		{"empty Statement list", Identity, `{"Statement":[]}`, reasonSyntax, 0, "Statement"},
		{"Statement string", Identity, `{"Statement":"x"}`, reasonSyntax, 0, "Statement"},
		{"statement not object", Identity, `{"Statement":[{` + allow + `},"x"]}`, reasonSyntax, 2, ""},
		{"unknown statement element", Identity, `{"Statement":{` + allow + `,"Efect":"x"}}`, reasonSyntax, 1, "Efect"},
		{"element names case-sensitive", Identity, `{"Statement":{"effect":"Allow","Action":"*","Resource":"*"}}`, reasonSyntax, 1, "effect"},
		{"missing Effect", Identity, `{"Statement":{"Action":"*","Resource":"*"}}`, reasonSyntax, 1, "Effect"},
		{"bad Effect", Identity, `{"Statement":{"Sid":"S1","Effect":"allow","Action":"*","Resource":"*"}}`, reasonBadEffect, 1, "Effect"},
		{"missing Action", Identity, `{"Statement":{"Effect":"Allow","Resource":"*"}}`, reasonNoActions, 1, "Action"},
		{"empty Action list", Identity, `{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}`, reasonNoActions, 1, "Action"},
		{"Action number", Identity, `{"Statement":{"Effect":"Allow","Action":5,"Resource":"*"}}`, reasonSyntax, 1, "Action"},
		{"Action list with number", Identity, `{"Statement":{"Effect":"Allow","Action":["s3:Get",5],"Resource":"*"}}`, reasonSyntax, 1, "Action"},
		{"Action and NotAction", Identity, `{"Statement":{"Effect":"Allow","Action":"*","NotAction":"s3:*","Resource":"*"}}`, reasonBothElements, 1, "Action"},
		{"Action without vendor", Identity, `{"Statement":{"Effect":"Allow","Action":"GetObject","Resource":"*"}}`, reasonVendor, 1, "Action"},
		{"Action two colons", Identity, `{"Statement":{"Effect":"Allow","Action":"s3:Get:Object","Resource":"*"}}`, reasonOneColon, 1, "Action"},
		{"Action bad vendor", Identity, `{"Statement":{"Effect":"Allow","NotAction":"s 3:Get","Resource":"*"}}`, "Vendor s 3 is not valid", 1, "NotAction"},
		{"Action wildcard vendor", Identity, `{"Statement":{"Effect":"Allow","Action":"s*:Get","Resource":"*"}}`, "Vendor s* is not valid", 1, "Action"},
		{"missing Resource", Identity, `{"Statement":{"Effect":"Allow","Action":"*"}}`, reasonNoResources, 1, "Resource"},
		{"empty NotResource", Identity, `{"Statement":{"Effect":"Allow","Action":"*","NotResource":[]}}`, reasonNoResources, 1, "NotResource"},
		{"Resource and NotResource", Identity, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}}`, reasonBothElements, 1, "Resource"},
		{"Resource not ARN", Identity, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"bucket/key"}}`, "Resource bucket/key must be in ARN format", 1, "Resource"},
		{"Resource vendor wildcard", Identity, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:*:::b"}}`, reasonResourceVend, 1, "Resource"},
		{"Resource vendor empty", Identity, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws::::b"}}`, reasonResourceVend, 1, "Resource"},
		{"IAM resource with region", Identity, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:iam:us-east-1:123456789012:role/x"}}`, "IAM resource", 1, "Resource"},
		{"identity with Principal", Identity, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}`, reasonHasPrincipal, 1, "Principal"},
		{"identity with NotPrincipal", Identity, `{"Statement":{"Effect":"Allow","NotPrincipal":"*","Action":"*","Resource":"*"}}`, reasonHasPrincipal, 1, "NotPrincipal"},
		{"trust without Principal", Trust, `{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}`, reasonNoPrincipal, 1, "Principal"},
		{"trust with non-STS action", Trust, `{"Statement":{"Effect":"Allow","Principal":"*","Action":["sts:AssumeRole","s3:GetObject"]}}`, reasonTrustAction, 1, "Action"},
		{"trust with Action star", Trust, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}`, reasonTrustAction, 1, "Action"},
		{"trust with Resource", Trust, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}}`, reasonProhibitedRes, 1, "Resource"},
		{"trust with NotResource", Trust, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","NotResource":"*"}}`, reasonProhibitedRes, 1, "NotResource"},
		{"trust with NotPrincipal", Trust, `{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "NotPrincipal"},
		{"resource policy without Principal", Resource, `{"Statement":{` + allow + `}}`, reasonNoPrincipal, 1, "Principal"},
		{"principal wildcard inside ARN", Trust, `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/*"},"Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "Principal"},
		{"principal account wildcard", Trust, `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::*:root"},"Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "Principal"},
		{"principal unknown type", Trust, `{"Statement":{"Effect":"Allow","Principal":{"Foo":"x"},"Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "Principal"},
		{"principal bad string", Trust, `{"Statement":{"Effect":"Allow","Principal":"123456789012","Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "Principal"},
		{"principal bad AWS value", Trust, `{"Statement":{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "Principal"},
		{"principal S3 ARN", Trust, `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:s3:::bucket"},"Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "Principal"},
		{"principal empty object", Trust, `{"Statement":{"Effect":"Allow","Principal":{},"Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "Principal"},
		{"principal empty list", Trust, `{"Statement":{"Effect":"Allow","Principal":{"Federated":[]},"Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "Principal"},
		{"principal empty string", Trust, `{"Statement":{"Effect":"Allow","Principal":{"Service":""},"Action":"sts:AssumeRole"}}`, reasonBadPrincipal, 1, "Principal"},
		{"Sid with space", Identity, `{"Statement":{"Sid":"my sid",` + allow + `}}`, reasonSidChars, 1, "Sid"},
		{"Sid not string", Identity, `{"Statement":{"Sid":1,` + allow + `}}`, reasonSyntax, 1, "Sid"},
		{"Sid duplicate", Identity, `{"Statement":[{"Sid":"A",` + allow + `},{"Sid":"A",` + allow + `}]}`, reasonSidUnique, 2, "Sid"},
		{"bad condition names statement and field", Identity, `{"Statement":[{` + allow + `},{"Sid":"Two",` + allow + `,"Condition":{"Foo":{"k":"v"}}}]}`, reasonBadCondition, 2, "Condition"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.doc), tc.kind)
			if err == nil {
				t.Fatalf("Parse accepted it: %d statements", p.Statements())
			}
			me := asMalformed(t, err)
			if !strings.HasPrefix(me.Reason, tc.reason) {
				t.Errorf("Reason = %q, want %q (error %v)", me.Reason, tc.reason, err)
			}
			if me.Statement != tc.stmt || me.Field != tc.field {
				t.Errorf("location = statement %d field %q, want %d %q (error %v)", me.Statement, me.Field, tc.stmt, tc.field, err)
			}
			msg := err.Error()
			if tc.stmt > 0 && !strings.Contains(msg, "statement ") {
				t.Errorf("message %q does not name the statement", msg)
			}
			if tc.field != "" && !strings.Contains(msg, "field "+tc.field) {
				t.Errorf("message %q does not name the field", msg)
			}
		})
	}
}

func TestMalformedErrorMessage(t *testing.T) {
	_, err := Parse([]byte(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"Bad","Effect":"Permit","Action":"*","Resource":"*"}]}`), Identity)
	want := `Invalid effect. (statement 2, Sid "Bad", field Effect, Effect must be "Allow" or "Deny")`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

func TestParseSizeLimit(t *testing.T) {
	pad := strings.Repeat(" ", MaxPolicyDocumentChars)
	_, err := Parse([]byte(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`+pad), Identity)
	if me := asMalformed(t, err); me.Reason != reasonTooLarge {
		t.Fatalf("Reason = %q", me.Reason)
	}
	if _, err := Parse([]byte(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`), Kind(7)); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestNameAndKindStrings(t *testing.T) {
	p := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, Identity)
	if p.Name() != "" {
		t.Fatal("fresh policy has a name")
	}
	p.SetName("inline")
	if p.Name() != "inline" {
		t.Fatal("SetName")
	}
	for k, want := range map[Kind]string{Identity: "Identity", Trust: "Trust", Resource: "Resource", Kind(9): "Kind(9)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %s", k, k.String())
		}
	}
	for d, want := range map[Decision]string{ImplicitDeny: "ImplicitDeny", Allow: "Allow", ExplicitDeny: "ExplicitDeny", Decision(5): "Decision(5)"} {
		if d.String() != want {
			t.Errorf("%d.String() = %s", d, d.String())
		}
	}
}

// Duplicate detection stays correct (and linear) in large objects.
func TestDuplicateKeyLargeObject(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{`)
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, `"k%d":"v",`, i)
	}
	b.WriteString(`"k4321":"again"}}}}`)
	_, err := Parse([]byte(b.String()), Identity)
	me := asMalformed(t, err)
	if me.Reason != reasonDuplicate || me.Statement != 1 || me.Field != "Condition" || !strings.Contains(err.Error(), `"k4321"`) {
		t.Fatalf("got %v", err)
	}
	ok := strings.Replace(b.String(), `"k4321":"again"`, `"k5000":"v"`, 1)
	if _, err := Parse([]byte(ok), Identity); err != nil {
		t.Fatal(err)
	}
	var zero Context
	zero.Set("a", "b")
	if v, _ := zero.Get("A"); len(v) != 1 {
		t.Fatal("zero Context not usable")
	}
}
