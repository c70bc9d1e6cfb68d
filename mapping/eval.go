package mapping

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/providers"
)

// Decision is the result of mapping one identity.
type Decision struct {
	// Outcome is "grant" (exactly one grant, or on_ambiguous: first),
	// "choose" (several grants; the user picks one) or "deny".
	Outcome string
	// Grants are the roles offered, in evaluation order, one per role ARN
	// (the first rule granting a role wins). Empty when Outcome is deny.
	Grants []Grant
	// Rules traces every rule in evaluation order (the default rule last).
	Rules []RuleTrace
	// Reason says in one sentence why the outcome is what it is.
	Reason string
}

// Grant is one role a user may assume, with what the session carries.
type Grant struct {
	RoleARN  string
	RoleName string
	// Rule is the name of the rule that produced the grant and RuleIndex its
	// position in the configuration (-1 for the default rule).
	Rule      string
	RuleIndex int
	// SessionName is a valid RoleSessionName.
	SessionName string
	// SessionTags and TransitiveTagKeys passed the AWS limits.
	SessionTags       map[string]string
	TransitiveTagKeys []string
	// MaxDuration is the smaller of the rule's duration and the role's
	// maximum; see Grant.EffectiveDuration for the negotiation with the request.
	MaxDuration time.Duration
	// RuleDuration is the rule's cap (0 = none) and RoleMaxDuration the
	// role's maximum; MaxDuration is derived from them.
	RuleDuration    time.Duration
	RoleMaxDuration time.Duration
	// SourceIdentity is "" unless the rule sets source_identity.
	SourceIdentity string
	// Description is the role's description (RoleInfo.Description), for
	// the people choosing among their grants.
	Description string
	// RequireMFA is the role's require_mfa (RoleInfo.RequireMFA): the
	// broker issues the grant only to a session with MFA.
	RequireMFA bool
}

// EffectiveDuration negotiates the credential lifetime for this grant: see
// the function EffectiveDuration. upstreamExpiry is Identity.Expiry.
func (g Grant) EffectiveDuration(requested time.Duration, upstreamExpiry, now time.Time) (time.Duration, string) {
	return EffectiveDuration(requested, g.RuleDuration, g.RoleMaxDuration, upstreamExpiry, now)
}

// Grant returns the grant for roleARN, if the decision offers it (use it
// to check the role a user chose among several).
func (d Decision) Grant(roleARN string) (Grant, bool) {
	for _, g := range d.Grants {
		if g.RoleARN == roleARN {
			return g, true
		}
	}
	return Grant{}, false
}

// RuleTrace says what one rule did.
type RuleTrace struct {
	Name  string
	Index int // position in the configuration; -1 for the default rule
	// Evaluated is false when an earlier rule matched without continue.
	Evaluated bool
	Matched   bool
	// Reason summarises why the rule matched or not, naming the failed
	// conditions with the values compared.
	Reason string
	// Conditions lists each condition of the rule and its result.
	Conditions []ConditionTrace
	// Dropped lists grants of a matched rule that were not issued, and why
	// (a template failed or rendered a value outside AWS limits).
	Dropped []string
}

// ConditionTrace is the result of one condition of a rule.
type ConditionTrace struct {
	Condition string // e.g. "provider", "groups_any", "attributes.department"
	OK        bool
	Detail    string
}

// policyFor returns the ambiguity policy for a provider.
func (m *Mapper) policyFor(provider string) string {
	if p, ok := m.byProvider[provider]; ok {
		return p
	}
	return m.onAmbiguous
}

// Map evaluates the rules for id. It never fails: problems with a rule
// (a template that does not render, a value outside AWS limits) drop that
// rule's grants and are recorded in its trace.
func (m *Mapper) Map(id providers.Identity) Decision {
	groups := make([]group, len(id.Groups))
	for i, g := range id.Groups {
		groups[i] = normalizeGroup(g, m.caseSensitive)
	}
	var (
		d        Decision
		stopped  = ""
		anyMatch = false
		byARN    = map[string]bool{}
	)
	addGrants := func(r *rule, tr *RuleTrace, matched *group) {
		grants, dropped := m.grantsFor(r, &id, matched)
		tr.Dropped = dropped
		for _, g := range grants {
			if byARN[g.RoleARN] {
				tr.Dropped = append(tr.Dropped, fmt.Sprintf("%s: already granted by an earlier rule", g.RoleARN))
				continue
			}
			byARN[g.RoleARN] = true
			d.Grants = append(d.Grants, g)
		}
	}
	for _, r := range m.rules {
		tr := RuleTrace{Name: r.name, Index: r.index}
		if stopped != "" {
			tr.Reason = fmt.Sprintf("not evaluated: rule %q matched first and does not continue", stopped)
			d.Rules = append(d.Rules, tr)
			continue
		}
		tr.Evaluated = true
		ok, matched := r.eval(&id, groups, &tr)
		tr.Matched = ok
		if ok {
			anyMatch = true
			addGrants(r, &tr, matched)
			if !r.cont {
				stopped = r.name
			}
		}
		d.Rules = append(d.Rules, tr)
	}
	if m.def != nil {
		tr := RuleTrace{Name: m.def.name, Index: -1}
		if anyMatch {
			tr.Reason = "not applied: a rule matched"
		} else {
			tr.Evaluated, tr.Matched = true, true
			tr.Reason = "matched: no other rule matched"
			addGrants(m.def, &tr, nil)
		}
		d.Rules = append(d.Rules, tr)
	}

	policy := m.policyFor(id.Provider)
	switch n := len(d.Grants); {
	case n == 0 && !anyMatch && m.def == nil:
		d.Outcome, d.Reason = OutcomeDeny, "no rule matched"
	case n == 0:
		d.Outcome, d.Reason = OutcomeDeny, "rules matched but every grant was dropped; see dropped in the rule trace"
	case n == 1:
		d.Outcome, d.Reason = OutcomeGrant, "one role granted"
	case policy == AmbiguousFirst:
		d.Outcome = OutcomeGrant
		d.Reason = fmt.Sprintf("%d roles matched; on_ambiguous is first, so %s (rule %q) is granted", n, d.Grants[0].RoleARN, d.Grants[0].Rule)
		d.Grants = d.Grants[:1]
	case policy == AmbiguousDeny:
		d.Outcome = OutcomeDeny
		d.Reason = fmt.Sprintf("%d roles matched and on_ambiguous is deny", n)
		d.Grants = nil
	default:
		d.Outcome, d.Reason = OutcomeChoose, fmt.Sprintf("%d roles matched; the user chooses", n)
	}
	return d
}

// grantsFor renders the outcome templates of a matched rule. Any failure
// drops all of the rule's grants, with the reason.
func (m *Mapper) grantsFor(r *rule, id *providers.Identity, matched *group) ([]Grant, []string) {
	data := newTemplateData(id, matched, r.name)
	drop := func(err error) ([]Grant, []string) {
		out := make([]string, len(r.roles))
		for i, role := range r.roles {
			out[i] = fmt.Sprintf("%s: %v", role.arn, err)
		}
		return nil, out
	}
	raw := id.Username
	if r.sessionName != nil {
		s, err := render(r.sessionName, data)
		if err != nil {
			return drop(err)
		}
		raw = s
	}
	sessionName, err := SanitizeSessionName(raw)
	if err != nil {
		return drop(err)
	}
	var tags map[string]string
	if len(r.tags) > 0 {
		tags = make(map[string]string, len(r.tags))
		for _, t := range r.tags {
			v, err := render(t.t, data)
			if err != nil {
				return drop(err)
			}
			if err := ValidateTagValue(v); err != nil {
				return drop(fmt.Errorf("session_tags.%s: %w", t.key, err))
			}
			tags[t.key] = v
		}
	}
	var sourceID string
	if r.sourceID != nil {
		s, err := render(r.sourceID, data)
		if err != nil {
			return drop(err)
		}
		if err := ValidateSourceIdentity(s); err != nil {
			return drop(fmt.Errorf("source_identity: %w", err))
		}
		sourceID = s
	}
	grants := make([]Grant, 0, len(r.roles))
	for _, role := range r.roles {
		maxDur := role.maxDur
		if r.duration > 0 && r.duration < maxDur {
			maxDur = r.duration
		}
		grants = append(grants, Grant{
			RoleARN: role.arn, RoleName: role.name, Rule: r.name, RuleIndex: r.index,
			SessionName: sessionName, SessionTags: maps.Clone(tags),
			TransitiveTagKeys: slices.Clone(r.transitive), MaxDuration: maxDur,
			RuleDuration: r.duration, RoleMaxDuration: role.maxDur,
			SourceIdentity: sourceID, Description: role.desc, RequireMFA: role.requireMFA,
		})
	}
	return grants, nil
}

// eval checks every condition (so the trace is complete) and returns whether
// all hold, and the group that satisfied groups_any / groups_all.
func (r *rule) eval(id *providers.Identity, groups []group, tr *RuleTrace) (bool, *group) {
	all := true
	add := func(cond string, ok bool, detail string) {
		tr.Conditions = append(tr.Conditions, ConditionTrace{Condition: cond, OK: ok, Detail: detail})
		all = all && ok
	}
	var matched *group

	if len(r.providers) > 0 {
		ok := slices.Contains(r.providers, id.Provider)
		if ok {
			add("provider", true, fmt.Sprintf("provider %s is in %s", quote(id.Provider), quoteList(r.providers)))
		} else {
			add("provider", false, fmt.Sprintf("provider %s is not in %s", quote(id.Provider), quoteList(r.providers)))
		}
	}
	if len(r.groupsAny) > 0 {
		gi, pi := findGroup(groups, r.groupsAny)
		if gi >= 0 {
			matched = &groups[gi]
			add("groups_any", true, fmt.Sprintf("group %s matches %s", quote(groups[gi].orig), quote(r.groupsAny[pi].raw)))
		} else {
			add("groups_any", false, fmt.Sprintf("no group of %s matches any of %s", groupList(groups), patternList(r.groupsAny)))
		}
	}
	if len(r.groupsAll) > 0 {
		var missing []string
		for i, p := range r.groupsAll {
			gi, _ := findGroup(groups, r.groupsAll[i:i+1])
			if gi < 0 {
				missing = append(missing, p.raw)
			} else if matched == nil {
				matched = &groups[gi]
			}
		}
		if len(missing) == 0 {
			add("groups_all", true, fmt.Sprintf("every pattern of %s is matched by a group", patternList(r.groupsAll)))
		} else {
			add("groups_all", false, fmt.Sprintf("no group of %s matches %s", groupList(groups), quoteList(missing)))
		}
	}
	if len(r.groupsNone) > 0 {
		gi, pi := findGroup(groups, r.groupsNone)
		if gi < 0 {
			add("groups_none", true, fmt.Sprintf("no group matches any of %s", patternList(r.groupsNone)))
		} else {
			add("groups_none", false, fmt.Sprintf("group %s matches the excluded %s", quote(groups[gi].orig), quote(r.groupsNone[pi].raw)))
		}
	}
	for _, a := range r.attrs {
		vals, present := id.Attributes[a.key]
		ok, detail := a.m.eval(vals, present)
		add(a.label+"."+a.key, ok, detail)
	}
	if len(r.emailDom) > 0 {
		switch at := strings.LastIndexByte(id.Email, '@'); {
		case id.Email == "":
			add("email_domain", false, "no email")
		case !id.EmailVerified:
			add("email_domain", false, fmt.Sprintf("email %s is not verified", quote(id.Email)))
		case at <= 0:
			add("email_domain", false, fmt.Sprintf("email %s has no domain", quote(id.Email)))
		default:
			dom := casefold.Unicode(id.Email[at+1:])
			ok := slices.ContainsFunc(r.emailDom, func(g glob) bool { return g.match(dom) })
			if ok {
				add("email_domain", true, fmt.Sprintf("verified email domain %s is in %s", quote(dom), quoteList(r.emailRaw)))
			} else {
				add("email_domain", false, fmt.Sprintf("email domain %s is not in %s", quote(dom), quoteList(r.emailRaw)))
			}
		}
	}
	if r.mfa != nil {
		if id.MFA == *r.mfa {
			add("mfa", true, fmt.Sprintf("mfa is %t", id.MFA))
		} else {
			add("mfa", false, fmt.Sprintf("mfa is %t, the rule needs %t", id.MFA, *r.mfa))
		}
	}

	var parts []string
	for _, c := range tr.Conditions {
		if c.OK == all {
			parts = append(parts, c.Condition+": "+c.Detail)
		}
	}
	switch {
	case all && len(tr.Conditions) == 0:
		tr.Reason = "matched: the rule has no conditions"
	case all:
		tr.Reason = "matched: " + strings.Join(parts, "; ")
	default:
		tr.Reason = "not matched: " + strings.Join(parts, "; ")
	}
	return all, matched
}

// findGroup returns the first group (in the identity's order) matching any
// pattern, and the index of that pattern; -1, -1 if none.
func findGroup(groups []group, pats []groupPattern) (int, int) {
	for gi := range groups {
		for pi := range pats {
			if pats[pi].match(groups[gi]) {
				return gi, pi
			}
		}
	}
	return -1, -1
}

func (m *matcher) eval(vals []string, present bool) (bool, string) {
	var (
		all   = true
		parts []string
	)
	check := func(ok bool, detail string) {
		all = all && ok
		parts = append(parts, detail)
	}
	has := present && len(vals) > 0
	shown := quoteList(vals)
	if !has {
		shown = "the absent attribute"
	}
	anyVal := func(pred func(string) bool) (string, bool) {
		for _, v := range vals {
			if pred(v) {
				return v, true
			}
		}
		return "", false
	}
	if m.exists != nil {
		if *m.exists {
			check(has, fmt.Sprintf("exists: %s", presence(has, len(vals))))
		} else {
			check(!has, fmt.Sprintf("exists: false, %s", presence(has, len(vals))))
		}
	}
	if m.equals != nil {
		if _, ok := anyVal(func(v string) bool { return v == *m.equals }); ok {
			check(true, fmt.Sprintf("a value equals %s", quote(*m.equals)))
		} else {
			check(false, fmt.Sprintf("no value of %s equals %s", shown, quote(*m.equals)))
		}
	}
	if m.in != nil {
		if v, ok := anyVal(func(v string) bool { return slices.Contains(m.in, v) }); ok {
			check(true, fmt.Sprintf("value %s is in %s", quote(v), quoteList(m.in)))
		} else {
			check(false, fmt.Sprintf("no value of %s is in %s", shown, quoteList(m.in)))
		}
	}
	if m.globS != nil {
		if v, ok := anyVal(m.glob.match); ok {
			check(true, fmt.Sprintf("value %s matches glob %s", quote(v), quote(*m.globS)))
		} else {
			check(false, fmt.Sprintf("no value of %s matches glob %s", shown, quote(*m.globS)))
		}
	}
	if m.re != nil {
		if v, ok := anyVal(m.re.MatchString); ok {
			check(true, fmt.Sprintf("value %s matches regex %s", quote(v), quote(*m.reS)))
		} else {
			check(false, fmt.Sprintf("no value of %s matches regex %s", shown, quote(*m.reS)))
		}
	}
	if m.not != nil {
		ok, detail := m.not.eval(vals, present)
		check(!ok, fmt.Sprintf("not (%s)", detail))
	}
	return all, strings.Join(parts, ", ")
}

func presence(has bool, n int) string {
	if has {
		return fmt.Sprintf("present with %d value(s)", n)
	}
	return "absent"
}

// maxListed bounds how many items a trace lists.
const maxListed = 10

func quoteList(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i == maxListed {
			fmt.Fprintf(&b, ", … %d more", len(ss)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(s))
	}
	b.WriteByte(']')
	return b.String()
}

func groupList(gs []group) string {
	ss := make([]string, len(gs))
	for i, g := range gs {
		ss[i] = g.orig
	}
	return quoteList(ss)
}

func patternList(ps []groupPattern) string {
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.raw
	}
	return quoteList(ss)
}
