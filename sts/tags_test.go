package sts

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/sts/policy"
)

// TestSessionTags: the one home of the session tag-key rules the three
// AssumeRole actions apply.
func TestSessionTags(t *testing.T) {
	caller := &Session{Tags: map[string]string{"Team": "blue", "cost": "1"}, TransitiveTagKeys: []string{"Team", "gone"}}
	for _, tc := range []struct {
		name       string
		tags       [][2]string
		transitive []string
		want       error
	}{
		{name: "ok", tags: [][2]string{{"env", "prod"}, {"Owner", "x"}}, transitive: []string{"ENV"}},
		{name: "reserved", tags: [][2]string{{"aws:x", "v"}}, want: errTagReserved},
		{name: "reserved in any case", tags: [][2]string{{"AwS:x", "v"}}, want: errTagReserved},
		{name: "a value may start with aws:", tags: [][2]string{{"k", "aws:v"}}},
		{name: "duplicate in another case", tags: [][2]string{{"env", "a"}, {"ENV", "b"}}, want: errTagDuplicate},
		{name: "inherited key", tags: [][2]string{{"team", "red"}}, want: errTagInherited},
		{name: "inherited non-transitive key is free", tags: [][2]string{{"cost", "2"}}},
		{name: "transitive key not requested", tags: [][2]string{{"env", "a"}}, transitive: []string{"owner"}, want: errTransitiveNotTag},
		{name: "inherited key is not a requested one", transitive: []string{"Team"}, want: errTransitiveNotTag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st sessionTags
			st.inherit(caller)
			var err error
			for _, kv := range tc.tags {
				if err = st.add(kv[0], kv[1]); err != nil {
					break
				}
			}
			for _, k := range tc.transitive {
				if err != nil {
					break
				}
				err = st.addTransitive(k)
			}
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && (st.tags["Team"] != "blue" || st.transitive[0] != "Team" || st.tags["gone"] != "") {
				t.Fatalf("inherited tags %v %v", st.tags, st.transitive)
			}
		})
	}
}

// TestCheckTrustAsksEveryAction: a session that carries tags or a source
// identity needs sts:TagSession and sts:SetSourceIdentity besides the
// action, whichever action asks.
func TestCheckTrustAsksEveryAction(t *testing.T) {
	kr, _ := GenerateKeyRing()
	s, err := New(Config{AccountID: "123456789012", Keys: kr, Roles: []RoleConfig{{Name: "r", TrustPolicy: []byte(trustAnyOIDC)}}})
	if err != nil {
		t.Fatal(err)
	}
	r := s.roles["arn:aws:iam::123456789012:role/r"]
	principal := []string{"arn:aws:iam::123456789012:oidc-provider/idp.example.com"}
	ask := func(tagSession bool, sourceIdentity string) string {
		return s.checkTrust(&trustRequest{role: r, action: "sts:AssumeRoleWithWebIdentity", principalType: policy.PrincipalFederated, principal: principal,
			sessionName: "s", tagSession: tagSession, sourceIdentity: sourceIdentity, tags: map[string]string{"k": "v"}, now: time.Now()}, policy.NewContext(), nil)
	}
	if reason := ask(false, ""); reason != "" {
		t.Fatalf("plain session refused: %s", reason)
	}
	if reason := ask(true, ""); !strings.Contains(reason, "sts:TagSession") {
		t.Fatalf("tagged session: %q", reason)
	}
	if reason := ask(false, "alice"); !strings.Contains(reason, "sts:SetSourceIdentity") {
		t.Fatalf("source identity: %q", reason)
	}
}
