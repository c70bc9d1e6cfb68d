package mapping

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/yamltypes"
	"github.com/idbroker/idbroker/providers"
)

var sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// TestOutcomes renders session names, tags, durations and source identities,
// including hostile identity values.
func TestOutcomes(t *testing.T) {
	big := strings.Repeat("x", 10*1024)
	base := providers.Identity{
		Provider: "corp", Subject: "sub-1", Username: "alice", Email: "alice@example.org", EmailVerified: true,
		Groups:     []string{"cn=web-admins,ou=groups,dc=x", "{{ .Username }}"},
		Attributes: map[string][]string{"department": {"eng"}, "big": {big}, "evil": {"{{ .Subject }}"}, "multi": {"a", "b"}},
	}
	with := func(f func(*providers.Identity)) providers.Identity {
		id := base
		id.Attributes = map[string][]string{}
		for k, v := range base.Attributes {
			id.Attributes[k] = v
		}
		f(&id)
		return id
	}
	type want struct {
		granted     bool
		sessionName string
		tags        map[string]string
		sourceID    string
		maxDur      time.Duration
		dropped     string // substring of the drop reason
	}
	cases := []struct {
		name string
		rule string // YAML lines after "roles:"
		id   providers.Identity
		want want
	}{
		{"default session name", "", base, want{granted: true, sessionName: "alice", maxDur: 4 * time.Hour}},
		{"default session name reduced", "", with(func(id *providers.Identity) { id.Username = "Bob Smith/ü" }),
			want{granted: true, sessionName: "BobSmith", maxDur: 4 * time.Hour}},
		{"default session name cut to 64", "", with(func(id *providers.Identity) { id.Username = big }),
			want{granted: true, sessionName: big[:64], maxDur: 4 * time.Hour}},
		{"session name too short", "", with(func(id *providers.Identity) { id.Username = "é" }),
			want{dropped: "fewer than 2 characters"}},
		{"session name template", `session_name: "{{ .Username }}@{{ .Provider }}"`, base,
			want{granted: true, sessionName: "alice@corp", maxDur: 4 * time.Hour}},
		{"session name from hostile attribute is data", `session_name: '{{ index .Attributes "evil" }}'`, base,
			want{granted: true, sessionName: ".Subject", maxDur: 4 * time.Hour}},
		{"tags", `when: {groups_any: ["cn=*-admins,ou=groups,dc=x"]}
session_tags: {dept: '{{ index .Attributes "department" }}', who: "{{ .Username }}", grp: "{{ .GroupName }}", mail: "{{ .Email }}"}`, base,
			want{granted: true, sessionName: "alice", tags: map[string]string{"dept": "eng", "who": "alice", "grp": "web-admins", "mail": "alice@example.org"}, maxDur: 4 * time.Hour}},
		{"field syntax", `session_tags: {dept: "{{ .Attributes.department }}"}`, base,
			want{granted: true, sessionName: "alice", tags: map[string]string{"dept": "eng"}, maxDur: 4 * time.Hour}},
		{"field syntax on a missing key drops", `session_tags: {dept: "{{ .Attributes.nope }}"}`, base,
			want{dropped: "map has no entry for key"}},
		{"index on a missing key is empty", `session_tags: {dept: '{{ index .Attributes "nope" }}'}`, base,
			want{granted: true, sessionName: "alice", tags: map[string]string{"dept": ""}, maxDur: 4 * time.Hour}},
		{"unverified email is not exposed", `session_tags: {mail: "{{ .Email }}"}`, with(func(id *providers.Identity) { id.EmailVerified = false }),
			want{granted: true, sessionName: "alice", tags: map[string]string{"mail": ""}, maxDur: 4 * time.Hour}},
		{"group named like a template is data", `session_tags: {g: '{{ index .Groups 1 }}'}`, base,
			want{dropped: `contains '{'`}},
		{"10 KB attribute in a tag drops", `session_tags: {b: '{{ index .Attributes "big" }}'}`, base,
			want{dropped: "output longer than 4096 bytes"}},
		{"257-character attribute in a tag drops", `session_tags: {b: '{{ index .Attributes "department" }}'}`,
			with(func(id *providers.Identity) { id.Attributes["department"] = []string{strings.Repeat("é", 257)} }),
			want{dropped: "257 characters, AWS allows 0 to 256"}},
		{"10 KB template output drops", `session_tags: {b: '{{ index .Attributes "big" }}{{ index .Attributes "big" }}'}`, base,
			want{dropped: "output longer than 4096 bytes"}},
		{"tag value with the reserved aws: prefix drops (the STS would refuse it)", `session_tags: {d: '{{ index .Attributes "department" }}'}`,
			with(func(id *providers.Identity) { id.Attributes["department"] = []string{"AWS:eng"} }),
			want{dropped: "reserved prefix aws:"}},
		{"tag value with newline drops", `session_tags: {d: '{{ index .Attributes "department" }}'}`,
			with(func(id *providers.Identity) { id.Attributes["department"] = []string{"eng\nadmin"} }),
			want{dropped: `contains '\n'`}},
		{"tag value unicode letters and spaces", `session_tags: {d: '{{ index .Attributes "department" }}'}`,
			with(func(id *providers.Identity) { id.Attributes["department"] = []string{"Forschung & Entwicklung"} }),
			want{dropped: `contains '&'`}},
		{"tag value unicode ok", `session_tags: {d: '{{ index .Attributes "department" }}'}`,
			with(func(id *providers.Identity) { id.Attributes["department"] = []string{"Forschung Ünd Entwicklung 2"} }),
			want{granted: true, sessionName: "alice", tags: map[string]string{"d": "Forschung Ünd Entwicklung 2"}, maxDur: 4 * time.Hour}},
		{"template runtime error drops", `session_tags: {g: '{{ index .Groups 7 }}'}`, base,
			want{dropped: "index out of range"}},
		{"template functions", `session_tags: {d: '{{ index .Attributes "department" | upper }}', j: '{{ join "+" (index .AttributeValues "multi") }}'}`, base,
			want{granted: true, sessionName: "alice", tags: map[string]string{"d": "ENG", "j": "a+b"}, maxDur: 4 * time.Hour}},
		{"duration caps the role", "duration: 1h", base, want{granted: true, sessionName: "alice", maxDur: time.Hour}},
		{"role caps the duration", "duration: 12h", base, want{granted: true, sessionName: "alice", maxDur: 4 * time.Hour}},
		{"duration in seconds", "duration: 1800", base, want{granted: true, sessionName: "alice", maxDur: 30 * time.Minute}},
		{"source identity", `source_identity: "{{ .Username }}"`, base, want{granted: true, sessionName: "alice", sourceID: "alice", maxDur: 4 * time.Hour}},
		{"source identity invalid drops", `source_identity: "{{ .Username }}"`, with(func(id *providers.Identity) { id.Username = "bob smith" }),
			want{dropped: "SourceIdentity \"bob smith\" contains ' '"}},
		{"source identity aws: prefix drops", `source_identity: "aws:{{ .Username }}"`, base,
			want{dropped: "contains ':'"}},
		{"source identity empty drops", `source_identity: '{{ index .Attributes "nope" }}'`, base,
			want{dropped: "has 0 bytes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustCompile(t, "rules:\n  - name: r\n    roles: [Admin]\n    "+strings.ReplaceAll(c.rule, "\n", "\n    ")+"\n")
			d := m.Map(c.id)
			if !c.want.granted {
				if d.Outcome != OutcomeDeny || len(d.Grants) != 0 {
					t.Fatalf("want the grant dropped, got %s %+v", d.Outcome, d.Grants)
				}
				if len(d.Rules[0].Dropped) != 1 || !strings.Contains(d.Rules[0].Dropped[0], c.want.dropped) {
					t.Fatalf("dropped %q lacks %q", d.Rules[0].Dropped, c.want.dropped)
				}
				return
			}
			if d.Outcome != OutcomeGrant || len(d.Grants) != 1 {
				t.Fatalf("got %s %+v %v", d.Outcome, d.Grants, d.Rules[0].Dropped)
			}
			g := d.Grants[0]
			if g.SessionName != c.want.sessionName || !sessionNameRe.MatchString(g.SessionName) {
				t.Errorf("session name %q want %q", g.SessionName, c.want.sessionName)
			}
			if fmt.Sprint(g.SessionTags) != fmt.Sprint(c.want.tags) {
				t.Errorf("tags %v want %v", g.SessionTags, c.want.tags)
			}
			if g.SourceIdentity != c.want.sourceID || g.MaxDuration != c.want.maxDur {
				t.Errorf("source identity %q dur %s, want %q %s", g.SourceIdentity, g.MaxDuration, c.want.sourceID, c.want.maxDur)
			}
			if err := ValidateTags(g.SessionTags, g.TransitiveTagKeys); err != nil {
				t.Errorf("issued tags fail the limits: %v", err)
			}
			if g.RoleARN != arn("Admin") || g.RoleName != "Admin" || g.Rule != "r" || g.RuleIndex != 0 {
				t.Errorf("grant %+v", g)
			}
		})
	}
}

func TestRoles(t *testing.T) {
	m := mustCompile(t, `
rules:
  - name: r
    roles: [Developer, "arn:aws:iam::123456789012:role/audit/Auditor", "arn:aws:iam::210987654321:role/Remote", "arn:aws:iam::123456789012:role/Developer"]
`)
	d := m.Map(providers.Identity{Username: "al"})
	got := grantARNs(d)
	want := []string{arn("Developer"), "arn:aws:iam::123456789012:role/audit/Auditor", "arn:aws:iam::210987654321:role/Remote"}
	if fmt.Sprint(got) != fmt.Sprint(want) || d.Outcome != OutcomeChoose {
		t.Fatalf("got %s %v", d.Outcome, got)
	}
	if d.Grants[1].MaxDuration != 8*time.Hour || d.Grants[2].MaxDuration != awsspec.DefaultRoleMaxSessionDuration {
		t.Fatalf("durations %s %s", d.Grants[1].MaxDuration, d.Grants[2].MaxDuration)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown role names the rule", "rules:\n  - {name: devs, roles: [Developr]}\n", []string{`rules[0] (devs): roles: unknown role "Developr"`}},
		{"unknown ARN in own account", "rules:\n  - {name: r, roles: [\"arn:aws:iam::123456789012:role/Nope\"]}\n", []string{"unknown role"}},
		{"bad ARN", "rules:\n  - {name: r, roles: [\"arn:aws:s3:::bucket\"]}\n", []string{"is not a role ARN"}},
		{"no roles", "rules:\n  - {name: r}\n", []string{"at least one role"}},
		{"no name", "rules:\n  - {roles: [Admin]}\n", []string{"rules[0]: name is required"}},
		{"duplicate name", "rules:\n  - {name: r, roles: [Admin]}\n  - {name: r, roles: [Admin]}\n", []string{`rules[1] (r): name "r" already used by rules[0]`}},
		{"unknown provider", "rules:\n  - {name: r, when: {provider: nope}, roles: [Admin]}\n", []string{`unknown provider "nope"`}},
		{"bad regex", "rules:\n  - {name: r, when: {claims: {x: {regex: \"(\"}}}, roles: [Admin]}\n", []string{"when.claims.x: regex:"}},
		{"empty matcher", "rules:\n  - {name: r, when: {claims: {x: {}}}, roles: [Admin]}\n", []string{"no operator"}},
		{"empty in", "rules:\n  - {name: r, when: {claims: {x: {in: []}}}, roles: [Admin]}\n", []string{"empty list"}},
		{"empty group", "rules:\n  - {name: r, when: {groups_any: [\"\"]}, roles: [Admin]}\n", []string{"when.groups_any[0]: empty group pattern"}},
		{"bad template", "rules:\n  - {name: r, roles: [Admin], session_name: \"{{ .Username \"}\n", []string{"session_name: template:"}},
		{"unknown template function", "rules:\n  - {name: r, roles: [Admin], session_tags: {a: \"{{ exec .Username }}\"}}\n", []string{`function "exec" not defined`}},
		{"aws: tag key", "rules:\n  - {name: r, roles: [Admin], session_tags: {\"AWS:x\": y}}\n", []string{"reserved prefix aws:"}},
		{"bad tag key", "rules:\n  - {name: r, roles: [Admin], session_tags: {\"a b!\": y}}\n", []string{"outside the AWS tag alphabet"}},
		{"long tag key", "rules:\n  - {name: r, roles: [Admin], session_tags: {" + strings.Repeat("k", 129) + ": y}}\n", []string{"129 characters"}},
		{"tag keys differing in case", "rules:\n  - {name: r, roles: [Admin], session_tags: {team: a, Team: b}}\n", []string{"differ only in case"}},
		{"transitive not a tag", "rules:\n  - {name: r, roles: [Admin], session_tags: {a: b}, transitive_tag_keys: [c]}\n", []string{`"c" is not a key of session_tags`}},
		{"duration too short", "rules:\n  - {name: r, roles: [Admin], duration: 5m}\n", []string{"duration: 5m0s is outside"}},
		{"duration too long", "rules:\n  - {name: r, roles: [Admin], duration: 13h}\n", []string{"outside"}},
		{"bad policy", "on_ambiguous: random\nrules: []\n", []string{`on_ambiguous: "random"`}},
		{"bad provider policy", "on_ambiguous_by_provider: {corp: maybe, nope: deny}\nrules: []\n", []string{`corp: "maybe"`, `nope: unknown provider`}},
		{"default rule with when", "default_rule: {when: {mfa: true}, roles: [ReadOnly]}\nrules: []\n", []string{"default_rule: when must be empty"}},
		{"all errors at once", "rules:\n  - {name: a, roles: [X]}\n  - {name: b, roles: [Y]}\n", []string{`rules[0] (a)`, `rules[1] (b)`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(loadConfig(t, c.src), testEnv())
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// 51 tags.
	tags := map[string]string{}
	for i := range 51 {
		tags[fmt.Sprintf("k%d", i)] = "v"
	}
	_, err := Compile(Config{Rules: []Rule{{Name: "r", Roles: []string{"Admin"}, SessionTags: tags}}}, testEnv())
	if err == nil || !strings.Contains(err.Error(), "51 tags, AWS allows at most 50") {
		t.Fatalf("51 tags: %v", err)
	}
	delete(tags, "k50")
	if _, err := Compile(Config{Rules: []Rule{{Name: "r", Roles: []string{"Admin"}, SessionTags: tags}}}, testEnv()); err != nil {
		t.Fatalf("50 tags: %v", err)
	}
}

func TestYAMLDecoding(t *testing.T) {
	for _, src := range []string{
		"rules: [{name: r, roles: [Admin], bogus: 1}]",
		"rules: [{name: r, roles: [Admin], when: {group_any: [x]}}]",
		"rules: [{name: r, roles: [Admin], duration: soon}]",
		"rules: [{name: r, roles: [Admin], when: {provider: {a: b}}}]",
	} {
		var cfg Config
		dec := newStrictDecoder(src)
		if err := dec.Decode(&cfg); err == nil {
			t.Errorf("%s: decoded", src)
		}
	}
}

func TestAmbiguity(t *testing.T) {
	const rules = `
rules:
  - {name: low, priority: 1, roles: [ReadOnly], continue: true}
  - {name: high, priority: 5, roles: [Developer], continue: true}
  - {name: same-role, roles: [Developer], continue: true}
  - {name: stop, when: {groups_any: [stop]}, roles: [Admin]}
  - {name: after, roles: [Auditor]}
`
	cases := []struct {
		name   string
		policy string
		id     providers.Identity
		out    string
		roles  []string
		reason string
	}{
		{"choose", "on_ambiguous: choose", providers.Identity{Provider: "corp", Username: "al"}, OutcomeChoose,
			[]string{arn("Developer"), arn("ReadOnly"), "arn:aws:iam::123456789012:role/audit/Auditor"}, "the user chooses"},
		{"default is choose", "", providers.Identity{Provider: "corp", Username: "al"}, OutcomeChoose, nil, ""},
		{"deny", "on_ambiguous: deny", providers.Identity{Provider: "corp", Username: "al"}, OutcomeDeny, []string{}, "on_ambiguous is deny"},
		{"first", "on_ambiguous: first", providers.Identity{Provider: "corp", Username: "al"}, OutcomeGrant, []string{arn("Developer")}, "on_ambiguous is first"},
		{"per provider", "on_ambiguous: choose\non_ambiguous_by_provider: {okta: deny, google: first}",
			providers.Identity{Provider: "okta", Username: "al"}, OutcomeDeny, []string{}, ""},
		{"per provider first", "on_ambiguous: deny\non_ambiguous_by_provider: {okta: deny, google: first}",
			providers.Identity{Provider: "google", Username: "al"}, OutcomeGrant, []string{arn("Developer")}, ""},
		{"per provider falls back", "on_ambiguous: deny\non_ambiguous_by_provider: {google: first}",
			providers.Identity{Provider: "corp", Username: "al"}, OutcomeDeny, []string{}, ""},
		{"stop rule", "on_ambiguous: choose", providers.Identity{Provider: "corp", Username: "al", Groups: []string{"stop"}}, OutcomeChoose,
			[]string{arn("Developer"), arn("ReadOnly"), arn("Admin")}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustCompile(t, c.policy+rules)
			d := m.Map(c.id)
			if d.Outcome != c.out {
				t.Fatalf("outcome %s want %s (%s)", d.Outcome, c.out, d.Reason)
			}
			if c.roles != nil && fmt.Sprint(grantARNs(d)) != fmt.Sprint(c.roles) && !(len(c.roles) == 0 && len(d.Grants) == 0) {
				t.Fatalf("roles %v want %v", grantARNs(d), c.roles)
			}
			if !strings.Contains(d.Reason, c.reason) {
				t.Fatalf("reason %q lacks %q", d.Reason, c.reason)
			}
		})
	}
	// Trace: evaluation order by priority, the duplicate role noted, rules after a stop skipped.
	m := mustCompile(t, rules)
	d := m.Map(providers.Identity{Provider: "corp", Username: "al", Groups: []string{"stop"}})
	var order []string
	for _, r := range d.Rules {
		order = append(order, fmt.Sprintf("%s:%d:%v:%v", r.Name, r.Index, r.Evaluated, r.Matched))
	}
	if want := "[high:1:true:true low:0:true:true same-role:2:true:true stop:3:true:true after:4:false:false]"; fmt.Sprint(order) != want {
		t.Fatalf("order %v want %s", order, want)
	}
	if !strings.Contains(d.Rules[2].Dropped[0], "already granted by an earlier rule") {
		t.Fatalf("dedupe not traced: %v", d.Rules[2].Dropped)
	}
	if !strings.Contains(d.Rules[4].Reason, `rule "stop" matched first and does not continue`) {
		t.Fatalf("skip reason %q", d.Rules[4].Reason)
	}
}

func TestFirstMatchWins(t *testing.T) {
	m := mustCompile(t, `
rules:
  - {name: admins, when: {groups_any: [admins]}, roles: [Admin]}
  - {name: everyone, roles: [ReadOnly]}
`)
	if d := m.Map(providers.Identity{Username: "al", Groups: []string{"admins"}}); d.Outcome != OutcomeGrant || d.Grants[0].RoleARN != arn("Admin") {
		t.Fatalf("admin: %s %v", d.Outcome, grantARNs(d))
	}
	if d := m.Map(providers.Identity{Username: "al"}); d.Outcome != OutcomeGrant || d.Grants[0].RoleARN != arn("ReadOnly") {
		t.Fatalf("other: %s %v", d.Outcome, grantARNs(d))
	}
}

func TestDefaultRule(t *testing.T) {
	m := mustCompile(t, `
rules:
  - {name: admins, when: {groups_any: [admins]}, roles: [Admin]}
  - {name: broken, when: {groups_any: [broken]}, roles: [Admin], session_tags: {x: "{{ .Attributes.none }}"}}
default_rule: {roles: [ReadOnly], session_name: "guest-{{ .Username }}"}
`)
	d := m.Map(providers.Identity{Username: "al"})
	if d.Outcome != OutcomeGrant || d.Grants[0].RoleARN != arn("ReadOnly") || d.Grants[0].Rule != "default" ||
		d.Grants[0].RuleIndex != -1 || d.Grants[0].SessionName != "guest-al" {
		t.Fatalf("no match: %s %+v", d.Outcome, d.Grants)
	}
	d = m.Map(providers.Identity{Username: "al", Groups: []string{"admins"}})
	if d.Outcome != OutcomeGrant || d.Grants[0].RoleARN != arn("Admin") || d.Rules[len(d.Rules)-1].Reason != "not applied: a rule matched" {
		t.Fatalf("match: %s %+v", d.Outcome, d.Rules)
	}
	// A rule that matched but whose grants were dropped is a match: the default does not apply.
	d = m.Map(providers.Identity{Username: "al", Groups: []string{"broken"}})
	if d.Outcome != OutcomeDeny || len(d.Grants) != 0 {
		t.Fatalf("dropped: %s %+v", d.Outcome, d.Grants)
	}
}

func TestLimits(t *testing.T) {
	for _, c := range []struct {
		fn   func(string) error
		in   string
		want bool
	}{
		{ValidateSessionName, "ab", true}, {ValidateSessionName, "a", false}, {ValidateSessionName, "", false},
		{ValidateSessionName, strings.Repeat("a", 64), true}, {ValidateSessionName, strings.Repeat("a", 65), false},
		{ValidateSessionName, "bob smith", false}, {ValidateSessionName, "a/b", false}, {ValidateSessionName, "a\nb", false},
		{ValidateSessionName, "a\x00b", false}, {ValidateSessionName, "é1", false}, {ValidateSessionName, "a+=,.@-_9", true},
		{ValidateSourceIdentity, "alice", true}, {ValidateSourceIdentity, "aws:alice", false}, {ValidateSourceIdentity, "AWS:alice", false},
		{ValidateSourceIdentity, "a/b", false},
		{ValidateTagKey, "team", true}, {ValidateTagKey, "", false}, {ValidateTagKey, "aws:x", false}, {ValidateTagKey, "Aws:x", false},
		{ValidateTagKey, strings.Repeat("k", 128), true}, {ValidateTagKey, strings.Repeat("k", 129), false},
		{ValidateTagKey, strings.Repeat("é", 128), true}, {ValidateTagKey, "a b:c/d=e+f-g@h_i.j", true},
		{ValidateTagKey, "a*b", false}, {ValidateTagKey, "a\tb", false}, {ValidateTagKey, "\xff", false},
		{ValidateTagValue, "", true}, {ValidateTagValue, strings.Repeat("v", 256), true}, {ValidateTagValue, strings.Repeat("v", 257), false},
		{ValidateTagValue, "Ünïcödé 漢字 ٣", true}, {ValidateTagValue, "a\u00a0b", true}, {ValidateTagValue, "a;b", false},
		{ValidateTagValue, "a\u200bb", false}, {ValidateTagValue, "a\u202eb", false},
		{ValidateTagValue, "aws:eng", false}, {ValidateTagValue, "AWS:eng", false}, {ValidateTagValue, "eng:aws:x", true},
		{ValidateTagKey, "aWS:", false}, {ValidateTagKey, "aws", true}, {ValidateTagKey, "aws_x", true}, {ValidateTagKey, "awſ:x", true},
		{ValidateTagValue, "aws:", false}, {ValidateTagValue, "aws", true}, {ValidateTagValue, "aw", true}, {ValidateTagValue, "éws:x", true},
	} {
		err := c.fn(c.in)
		if (err == nil) != c.want {
			t.Errorf("%q: err=%v want ok=%v", c.in, err, c.want)
		}
	}
	tags := map[string]string{}
	for i := range 50 {
		tags[fmt.Sprintf("k%d", i)] = "v"
	}
	if err := ValidateTags(tags, []string{"k1"}); err != nil {
		t.Fatal(err)
	}
	if err := ValidateTags(tags, []string{"nope"}); err == nil {
		t.Fatal("transitive key outside tags accepted")
	}
	tags["k50"] = "v"
	if err := ValidateTags(tags, nil); err == nil {
		t.Fatal("51 tags accepted")
	}
	if err := ValidateTags(map[string]string{"a": "1", "A": "2"}, nil); err == nil {
		t.Fatal("case-duplicate keys accepted")
	}
	for in, want := range map[string]string{"alice": "alice", "Bob Smith": "BobSmith", "a/b\nc": "abc", "jöhn.doe@x": "jhn.doe@x"} {
		got, err := SanitizeSessionName(in)
		if err != nil || got != want {
			t.Errorf("SanitizeSessionName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a", "éé", "//a"} {
		if _, err := SanitizeSessionName(in); err == nil {
			t.Errorf("SanitizeSessionName(%q) accepted", in)
		}
	}
}

func TestEffectiveDuration(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name                     string
		requested, ruleCap, role time.Duration
		expiry                   time.Time
		want                     time.Duration
		note                     string
	}{
		{"default one hour", 0, 0, 4 * time.Hour, time.Time{}, time.Hour, ""},
		{"request met", 2 * time.Hour, 0, 4 * time.Hour, time.Time{}, 2 * time.Hour, ""},
		{"role caps", 8 * time.Hour, 0, 4 * time.Hour, time.Time{}, 4 * time.Hour, "limited to 4h0m0s by the role's maximum"},
		{"role zero is one hour", 8 * time.Hour, 0, 0, time.Time{}, time.Hour, "role's maximum session duration of 1h0m0s"},
		{"rule caps", 8 * time.Hour, time.Hour, 4 * time.Hour, time.Time{}, time.Hour, "the rule's cap of 1h0m0s"},
		{"upstream caps", 8 * time.Hour, 0, 12 * time.Hour, now.Add(30 * time.Minute), 30 * time.Minute, "expires in 30m0s"},
		{"aws max", 24 * time.Hour, 0, 24 * time.Hour, time.Time{}, 12 * time.Hour, "AWS maximum of 12h"},
		{"floor from upstream", time.Hour, 0, 4 * time.Hour, now.Add(5 * time.Minute), 15 * time.Minute, "raised to the AWS minimum"},
		{"upstream already expired", time.Hour, 0, 4 * time.Hour, now.Add(-time.Minute), 15 * time.Minute, "expires in 0s"},
		{"request below floor", 5 * time.Minute, 0, 4 * time.Hour, time.Time{}, 15 * time.Minute, "below the AWS minimum"},
	}
	for _, c := range cases {
		got, note := EffectiveDuration(c.requested, c.ruleCap, c.role, c.expiry, now)
		if got != c.want || !strings.Contains(note, c.note) || (c.note == "" && note != "") {
			t.Errorf("%s: got %s %q, want %s %q", c.name, got, note, c.want, c.note)
		}
		if got < awsspec.MinSessionDuration || got > awsspec.MaxSessionDuration {
			t.Errorf("%s: %s outside AWS bounds", c.name, got)
		}
	}
}

func TestCaseSensitiveGroups(t *testing.T) {
	src := "rules:\n  - {name: r, when: {groups_any: [Admins]}, roles: [Admin]}\n"
	folded := mustCompile(t, src)
	strict := mustCompile(t, "case_sensitive_groups: true\n"+src)
	id := providers.Identity{Username: "al", Groups: []string{"admins"}}
	if folded.Map(id).Outcome != OutcomeGrant || strict.Map(id).Outcome != OutcomeDeny {
		t.Fatal("case_sensitive_groups switch has no effect")
	}
}

func TestRunTestsReportsProblems(t *testing.T) {
	m := mustCompile(t, "rules:\n  - {name: r, roles: [Admin], session_tags: {a: b}}\n")
	res := m.RunTests([]Test{
		{Name: "ok", Identity: TestIdentity{Username: "al"}, Expect: Expect{Decision: "grant", Roles: []string{"Admin"}, SessionTags: map[string]string{"a": "b"}, SessionName: "al", Rules: []string{"r"}}},
		{Identity: TestIdentity{Username: "al"}, Expect: Expect{}},
		{Name: "bad role", Identity: TestIdentity{Username: "al"}, Expect: Expect{Decision: "grant", Roles: []string{"Nope"}}},
		{Name: "wrong tags", Identity: TestIdentity{Username: "al"}, Expect: Expect{Decision: "grant", SessionTags: map[string]string{"a": "c"}, MaxDuration: yamltypes.DurationOrSeconds(time.Hour), SessionName: "x"}},
	})
	if !res[0].Passed || res[1].Passed || res[1].Name != "tests[1]" || !strings.Contains(res[1].Failures[0], "required") {
		t.Fatalf("%+v", res[:2])
	}
	if res[2].Passed || !strings.Contains(res[2].Failures[0], `unknown role "Nope"`) {
		t.Fatalf("%+v", res[2])
	}
	if f := res[3].Failures; len(f) != 3 || !strings.Contains(f[0], "session_tags") || !strings.Contains(f[1], "at most 1h0m0s, got 4h0m0s") || !strings.Contains(f[2], "session name") {
		t.Fatalf("%q", f)
	}
}

func TestGrantHelpers(t *testing.T) {
	m := mustCompile(t, "rules:\n  - {name: r, roles: [Admin, Developer], duration: 90m}\n")
	d := m.Map(providers.Identity{Username: "al"})
	g, ok := d.Grant(arn("Developer"))
	if !ok || g.RoleARN != arn("Developer") || g.MaxDuration != 90*time.Minute || g.RoleMaxDuration != 2*time.Hour || g.RuleDuration != 90*time.Minute {
		t.Fatalf("%+v %v", g, ok)
	}
	if _, ok := d.Grant(arn("ReadOnly")); ok {
		t.Fatal("Grant found a role not offered")
	}
	now := time.Now()
	dur, note := g.EffectiveDuration(3*time.Hour, time.Time{}, now)
	if dur != 90*time.Minute || !strings.Contains(note, "rule's cap") {
		t.Fatalf("%s %q", dur, note)
	}
}

func TestParseConfigAndCheck(t *testing.T) {
	cfg, err := ParseConfig([]byte("rules:\n  - {name: r, roles: [Admin]}\ntests:\n  - {name: t, identity: {username: al}, expect: {decision: grant, roles: [Admin]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, res, err := Check(cfg, testEnv())
	if err != nil || len(res) != 1 || !res[0].Passed {
		t.Fatalf("%v %+v", err, res)
	}
	if _, err := ParseConfig([]byte("rules: []\nextra: 1\n")); err == nil {
		t.Fatal("unknown key accepted")
	}
	if cfg, err := ParseConfig(nil); err != nil || len(cfg.Rules) != 0 {
		t.Fatalf("empty: %v", err)
	}
	if _, _, err := Check(Config{Rules: []Rule{{Name: "r", Roles: []string{"Nope"}}}}, testEnv()); err == nil {
		t.Fatal("Check compiled a bad config")
	}
}

// TestConcurrentMap runs one Mapper from many goroutines (run with -race).
func TestConcurrentMap(t *testing.T) {
	m, err := Compile(loadFile(t, "admins.yaml"), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	id := providers.Identity{Provider: "corp", Username: "al", Groups: []string{"developers", "cn=x-admins,ou=groups,dc=example,dc=org"},
		Attributes: map[string][]string{"departmentNumber": {"eng"}}}
	done := make(chan Decision)
	for range 8 {
		go func() { done <- m.Map(id) }()
	}
	for range 8 {
		if d := <-done; d.Outcome != OutcomeChoose || len(d.Grants) != 2 || d.Grants[0].SessionTags["department"] != "eng" {
			t.Errorf("%s %+v", d.Outcome, d.Grants)
		}
	}
}

func TestManyGroupsTraceIsBounded(t *testing.T) {
	m := mustCompile(t, "rules:\n  - {name: r, when: {groups_any: [admins]}, roles: [Admin]}\n")
	groups := make([]string, 1000)
	for i := range groups {
		groups[i] = fmt.Sprintf("cn=g%d,ou=groups,dc=x", i)
	}
	d := m.Map(providers.Identity{Username: "al", Groups: groups})
	if d.Outcome != OutcomeDeny || !strings.Contains(d.Rules[0].Reason, "… 990 more") || len(d.Rules[0].Reason) > 2000 {
		t.Fatalf("%d bytes: %s", len(d.Rules[0].Reason), d.Rules[0].Reason)
	}
}
