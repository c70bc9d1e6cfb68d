package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/casefold"
)

// Ambiguity policies for Config.OnAmbiguous.
const (
	AmbiguousChoose = "choose"
	AmbiguousDeny   = "deny"
	AmbiguousFirst  = "first"
)

// Outcomes of a Decision.
const (
	OutcomeGrant  = "grant"
	OutcomeChoose = "choose"
	OutcomeDeny   = "deny"
)

// Env is what rules are compiled against.
type Env struct {
	// AccountID and Partition build role ARNs for roles given without one.
	AccountID string
	Partition string // "" = "aws"
	// Roles maps role name to its ARN and maximum session duration.
	Roles map[string]RoleInfo
	// Providers, when non-nil, lists the configured provider names: a rule
	// or ambiguity override naming another provider is a compile error.
	Providers []string
}

// RoleInfo describes one role the broker knows.
type RoleInfo struct {
	// ARN of the role; "" = arn:<partition>:iam::<account>:role/<name>.
	ARN string
	// MaxDuration is the role's maximum session duration; 0 = one hour.
	MaxDuration time.Duration
	// Description is what the role is for, in the configuration's words
	// (roles[].description): shown to people choosing among their grants.
	Description string
	// RequireMFA (roles[].require_mfa): the broker issues no credentials
	// for the role without multi-factor authentication in the session.
	RequireMFA bool
}

// Mapper evaluates compiled rules. It is immutable and safe for concurrent use.
type Mapper struct {
	rules         []*rule // in evaluation order
	def           *rule
	onAmbiguous   string
	byProvider    map[string]string
	caseSensitive bool
	roles         map[string]roleRef // name -> role
	arns          map[string]roleRef // ARN -> role
	env           Env
}

type roleRef struct {
	name       string
	arn        string
	maxDur     time.Duration
	desc       string
	requireMFA bool
}

type rule struct {
	name     string
	index    int
	priority int
	cont     bool

	providers  []string
	groupsAny  []groupPattern
	groupsAll  []groupPattern
	groupsNone []groupPattern
	attrs      []attrCond // sorted by key
	emailDom   []glob
	emailRaw   []string
	mfa        *bool

	roles       []roleRef
	sessionName *template.Template
	tags        []tagTmpl // sorted by key
	transitive  []string
	duration    time.Duration
	sourceID    *template.Template
}

type tagTmpl struct {
	key string
	t   *template.Template
}

type attrCond struct {
	key   string
	label string // "claims" or "attributes"
	m     *matcher
}

type matcher struct {
	equals *string
	in     []string
	glob   glob
	globS  *string
	re     *regexp.Regexp
	reS    *string
	exists *bool
	not    *matcher
}

// Compile checks a configuration against the environment and prepares it
// for evaluation. All problems are reported together, each naming its rule.
func Compile(cfg Config, env Env) (*Mapper, error) {
	m := &Mapper{
		onAmbiguous:   cfg.OnAmbiguous,
		byProvider:    map[string]string{},
		caseSensitive: cfg.CaseSensitiveGroups,
		roles:         map[string]roleRef{},
		arns:          map[string]roleRef{},
		env:           env,
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	partition := env.Partition
	if partition == "" {
		partition = awsspec.DefaultPartition
	}
	for name, ri := range env.Roles {
		arn := ri.ARN
		if arn == "" {
			arn = awsspec.RoleARN(partition, env.AccountID, "", name)
		}
		md := ri.MaxDuration
		if md <= 0 {
			md = awsspec.DefaultRoleMaxSessionDuration
		}
		r := roleRef{name: name, arn: arn, maxDur: md, desc: ri.Description, requireMFA: ri.RequireMFA}
		m.roles[name] = r
		m.arns[arn] = r
	}

	if m.onAmbiguous == "" {
		m.onAmbiguous = AmbiguousChoose
	}
	if !validPolicy(m.onAmbiguous) {
		fail("on_ambiguous: %q is not one of choose, deny, first", cfg.OnAmbiguous)
	}
	for p, pol := range cfg.OnAmbiguousByProvider {
		if !validPolicy(pol) {
			fail("on_ambiguous_by_provider.%s: %q is not one of choose, deny, first", p, pol)
		}
		if env.Providers != nil && !slices.Contains(env.Providers, p) {
			fail("on_ambiguous_by_provider.%s: unknown provider %q", p, p)
		}
		m.byProvider[p] = pol
	}

	seen := map[string]int{}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		where := fmt.Sprintf("rules[%d]", i)
		if r.Name != "" {
			where = fmt.Sprintf("rules[%d] (%s)", i, r.Name)
		}
		if r.Name == "" {
			fail("%s: name is required", where)
		} else if j, dup := seen[r.Name]; dup {
			fail("%s: name %q already used by rules[%d]", where, r.Name, j)
		} else {
			seen[r.Name] = i
		}
		cr, rerrs := m.compileRule(r, i, where)
		errs = append(errs, rerrs...)
		m.rules = append(m.rules, cr)
	}
	sort.SliceStable(m.rules, func(a, b int) bool { return m.rules[a].priority > m.rules[b].priority })

	if d := cfg.DefaultRule; d != nil {
		where := "default_rule"
		if !whenEmpty(d.When) {
			fail("%s: when must be empty (the default rule applies when no rule matched)", where)
		}
		if d.Continue || d.Priority != 0 {
			fail("%s: continue and priority have no meaning here", where)
		}
		dr := *d
		if dr.Name == "" {
			dr.Name = "default"
		}
		cr, rerrs := m.compileRule(&dr, -1, where)
		errs = append(errs, rerrs...)
		m.def = cr
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mapping: %w", errors.Join(errs...))
	}
	return m, nil
}

func validPolicy(p string) bool {
	return p == AmbiguousChoose || p == AmbiguousDeny || p == AmbiguousFirst
}

func whenEmpty(w When) bool {
	return len(w.Provider) == 0 && len(w.GroupsAny) == 0 && len(w.GroupsAll) == 0 &&
		len(w.GroupsNone) == 0 && len(w.Claims) == 0 && len(w.Attributes) == 0 &&
		len(w.EmailDomain) == 0 && w.MFA == nil
}

var roleARNRe = regexp.MustCompile(`^arn:[a-z][a-z0-9-]*:iam::[0-9]{12}:role/(?:[\x21-\x7e]+/)?[\w+=,.@-]{1,64}$`)

func (m *Mapper) compileRule(r *Rule, index int, where string) (*rule, []error) {
	var errs []error
	fail := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{where}, a...)...))
	}
	cr := &rule{name: r.Name, index: index, priority: r.Priority, cont: r.Continue, mfa: r.When.MFA}

	w := r.When
	for _, p := range w.Provider {
		if p == "" {
			fail("when.provider: empty name")
			continue
		}
		if m.env.Providers != nil && !slices.Contains(m.env.Providers, p) {
			fail("when.provider: unknown provider %q", p)
		}
		cr.providers = append(cr.providers, p)
	}
	for _, gs := range []struct {
		key string
		in  []string
		out *[]groupPattern
	}{{"groups_any", w.GroupsAny, &cr.groupsAny}, {"groups_all", w.GroupsAll, &cr.groupsAll}, {"groups_none", w.GroupsNone, &cr.groupsNone}} {
		for j, p := range gs.in {
			gp, err := compileGroupPattern(p, m.caseSensitive)
			if err != nil {
				fail("when.%s[%d]: %v", gs.key, j, err)
				continue
			}
			*gs.out = append(*gs.out, gp)
		}
	}
	for _, src := range []struct {
		label string
		ms    map[string]Matcher
	}{{"claims", w.Claims}, {"attributes", w.Attributes}} {
		keys := make([]string, 0, len(src.ms))
		for k := range src.ms {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			mt := src.ms[k]
			cm, err := compileMatcher(&mt, 0)
			if err != nil {
				fail("when.%s.%s: %v", src.label, k, err)
				continue
			}
			cr.attrs = append(cr.attrs, attrCond{key: k, label: src.label, m: cm})
		}
	}
	for _, d := range w.EmailDomain {
		d = strings.TrimPrefix(d, "@")
		if d == "" || strings.Contains(d, "@") {
			fail("when.email_domain: %q is not a domain", d)
			continue
		}
		cr.emailRaw = append(cr.emailRaw, d)
		cr.emailDom = append(cr.emailDom, compileNameGlob(casefold.Unicode(d)))
	}

	// Outcomes.
	if len(r.Roles) == 0 {
		fail("roles: at least one role is required")
	}
	for _, name := range r.Roles {
		ref, err := m.resolveRole(name)
		if err != nil {
			fail("roles: %v", err)
			continue
		}
		if !slices.ContainsFunc(cr.roles, func(x roleRef) bool { return x.arn == ref.arn }) {
			cr.roles = append(cr.roles, ref)
		}
	}
	var err error
	if r.SessionName != "" {
		if cr.sessionName, err = parseTemplate("session_name", r.SessionName); err != nil {
			fail("session_name: %v", err)
		}
	}
	if r.SourceIdentity != "" {
		if cr.sourceID, err = parseTemplate("source_identity", r.SourceIdentity); err != nil {
			fail("source_identity: %v", err)
		}
	}
	if len(r.SessionTags) > awsspec.MaxSessionTags {
		fail("session_tags: %d tags, AWS allows at most %d", len(r.SessionTags), awsspec.MaxSessionTags)
	}
	lowerKeys := map[string]string{}
	for k, v := range r.SessionTags {
		if err := ValidateTagKey(k); err != nil {
			fail("session_tags: %v", err)
			continue
		}
		if other, dup := lowerKeys[strings.ToLower(k)]; dup {
			fail("session_tags: keys %q and %q differ only in case (AWS treats them as the same)", other, k)
		}
		lowerKeys[strings.ToLower(k)] = k
		t, err := parseTemplate("session_tags."+k, v)
		if err != nil {
			fail("session_tags.%s: %v", k, err)
			continue
		}
		cr.tags = append(cr.tags, tagTmpl{key: k, t: t})
	}
	slices.SortFunc(cr.tags, func(a, b tagTmpl) int { return strings.Compare(a.key, b.key) })
	if len(r.TransitiveTagKeys) > awsspec.MaxSessionTags {
		fail("transitive_tag_keys: %d keys, AWS allows at most %d", len(r.TransitiveTagKeys), awsspec.MaxSessionTags)
	}
	for _, k := range r.TransitiveTagKeys {
		if _, ok := r.SessionTags[k]; !ok {
			fail("transitive_tag_keys: %q is not a key of session_tags", k)
			continue
		}
		if !slices.Contains(cr.transitive, k) {
			cr.transitive = append(cr.transitive, k)
		}
	}
	if d := time.Duration(r.Duration); d != 0 {
		if d < awsspec.MinSessionDuration || d > awsspec.MaxSessionDuration {
			fail("duration: %s is outside %s..%s", d, awsspec.MinSessionDuration, awsspec.MaxSessionDuration)
		}
		cr.duration = d
	}
	return cr, errs
}

func (m *Mapper) resolveRole(s string) (roleRef, error) {
	if strings.HasPrefix(s, "arn:") {
		if r, ok := m.arns[s]; ok {
			return r, nil
		}
		if !roleARNRe.MatchString(s) {
			return roleRef{}, fmt.Errorf("%q is not a role ARN", s)
		}
		if acct := strings.SplitN(s, ":", 6)[4]; acct == m.env.AccountID {
			return roleRef{}, fmt.Errorf("unknown role %q (account %s has no such role)", s, acct)
		}
		// A role in another account: the broker cannot know its maximum.
		return roleRef{name: awsspec.RoleNameFromARN(s), arn: s, maxDur: awsspec.DefaultRoleMaxSessionDuration}, nil
	}
	if r, ok := m.roles[s]; ok {
		return r, nil
	}
	return roleRef{}, fmt.Errorf("unknown role %q", s)
}

const maxMatcherDepth = 8

func compileMatcher(mt *Matcher, depth int) (*matcher, error) {
	if depth > maxMatcherDepth {
		return nil, errors.New("not: nested too deeply")
	}
	cm := &matcher{equals: mt.Equals, in: mt.In, exists: mt.Exists}
	if mt.Equals == nil && mt.In == nil && mt.Glob == nil && mt.Regex == nil && mt.Exists == nil && mt.Not == nil {
		return nil, errors.New("no operator (want equals, in, glob, regex, exists or not)")
	}
	if mt.In != nil && len(mt.In) == 0 {
		return nil, errors.New("in: empty list never matches")
	}
	if mt.Glob != nil {
		cm.glob, cm.globS = compileNameGlob(*mt.Glob), mt.Glob
	}
	if mt.Regex != nil {
		re, err := regexp.Compile(`^(?:` + *mt.Regex + `)$`)
		if err != nil {
			return nil, fmt.Errorf("regex: %w", err)
		}
		cm.re, cm.reS = re, mt.Regex
	}
	if mt.Not != nil {
		n, err := compileMatcher(mt.Not, depth+1)
		if err != nil {
			return nil, fmt.Errorf("not: %w", err)
		}
		cm.not = n
	}
	return cm, nil
}
