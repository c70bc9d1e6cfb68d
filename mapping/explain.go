package mapping

import (
	"fmt"
	"slices"
	"strings"

	"github.com/idbroker/idbroker/providers"
)

// Explanation is a Decision in the form of the explain API and CLI. It
// marshals to
//
//	{"grants":[{"role_arn":…,"rule":…,"rule_index":0,"session_name":…,
//	  "session_tags":{…},"transitive_tag_keys":[…],"duration_seconds":3600}],
//	 "rules":[{"name":…,"matched":true,"reason":…}],
//	 "decision":"grant"|"choose"|"deny"}
//
// plus a few extra fields (reason, rule_index, evaluated, conditions, dropped).
type Explanation struct {
	Grants   []ExplainedGrant `json:"grants"`
	Rules    []ExplainedRule  `json:"rules"`
	Decision string           `json:"decision"`
	Reason   string           `json:"reason"`
}

// ExplainedGrant is a Grant in JSON form.
type ExplainedGrant struct {
	RoleARN           string            `json:"role_arn"`
	Rule              string            `json:"rule"`
	RuleIndex         int               `json:"rule_index"`
	SessionName       string            `json:"session_name"`
	SessionTags       map[string]string `json:"session_tags"`
	TransitiveTagKeys []string          `json:"transitive_tag_keys"`
	DurationSeconds   int64             `json:"duration_seconds"`
	SourceIdentity    string            `json:"source_identity,omitempty"`
}

// ExplainedRule is a RuleTrace in JSON form.
type ExplainedRule struct {
	Name       string               `json:"name"`
	RuleIndex  int                  `json:"rule_index"`
	Evaluated  bool                 `json:"evaluated"`
	Matched    bool                 `json:"matched"`
	Reason     string               `json:"reason"`
	Conditions []ExplainedCondition `json:"conditions,omitempty"`
	Dropped    []string             `json:"dropped,omitempty"`
}

// ExplainedCondition is a ConditionTrace in JSON form.
type ExplainedCondition struct {
	Condition string `json:"condition"`
	OK        bool   `json:"ok"`
	Detail    string `json:"detail"`
}

// Explain maps id and returns the decision with its reasons.
func (m *Mapper) Explain(id providers.Identity) Explanation {
	return m.Map(id).Explanation()
}

// Explanation converts the decision into its explain form.
func (d Decision) Explanation() Explanation {
	e := Explanation{
		Grants:   make([]ExplainedGrant, 0, len(d.Grants)),
		Rules:    make([]ExplainedRule, 0, len(d.Rules)),
		Decision: d.Outcome,
		Reason:   d.Reason,
	}
	for _, g := range d.Grants {
		tags := g.SessionTags
		if tags == nil {
			tags = map[string]string{}
		}
		keys := g.TransitiveTagKeys
		if keys == nil {
			keys = []string{}
		}
		e.Grants = append(e.Grants, ExplainedGrant{
			RoleARN: g.RoleARN, Rule: g.Rule, RuleIndex: g.RuleIndex, SessionName: g.SessionName,
			SessionTags: tags, TransitiveTagKeys: keys,
			DurationSeconds: int64(g.MaxDuration.Seconds()), SourceIdentity: g.SourceIdentity,
		})
	}
	for _, r := range d.Rules {
		er := ExplainedRule{Name: r.Name, RuleIndex: r.Index, Evaluated: r.Evaluated, Matched: r.Matched,
			Reason: r.Reason, Dropped: r.Dropped}
		for _, c := range r.Conditions {
			er.Conditions = append(er.Conditions, ExplainedCondition(c))
		}
		e.Rules = append(e.Rules, er)
	}
	return e
}

// Text renders the explanation for a terminal: the decision, the grants,
// then every rule in evaluation order with matched / not matched and why,
// condition by condition. Values from the identity are Go-quoted, so
// control characters cannot reach the terminal.
func (e Explanation) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "decision: %s (%s)\n", e.Decision, e.Reason)
	if len(e.Grants) == 0 {
		b.WriteString("grants: none\n")
	} else {
		b.WriteString("grants:\n")
	}
	for i, g := range e.Grants {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, g.RoleARN)
		fmt.Fprintf(&b, "     rule: %s (rules[%d])\n", g.Rule, g.RuleIndex)
		fmt.Fprintf(&b, "     session name: %s\n", g.SessionName)
		fmt.Fprintf(&b, "     max duration: %ds\n", g.DurationSeconds)
		if g.SourceIdentity != "" {
			fmt.Fprintf(&b, "     source identity: %s\n", g.SourceIdentity)
		}
		keys := make([]string, 0, len(g.SessionTags))
		for k := range g.SessionTags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			tr := ""
			if slices.Contains(g.TransitiveTagKeys, k) {
				tr = " (transitive)"
			}
			fmt.Fprintf(&b, "     tag %s = %s%s\n", k, quote(g.SessionTags[k]), tr)
		}
	}
	b.WriteString("rules:\n")
	for _, r := range e.Rules {
		where := fmt.Sprintf("rules[%d]", r.RuleIndex)
		if r.RuleIndex < 0 {
			where = "default_rule"
		}
		state := "NOT MATCHED"
		switch {
		case !r.Evaluated:
			state = "SKIPPED"
		case r.Matched:
			state = "MATCHED"
		}
		fmt.Fprintf(&b, "  %-11s %s %s\n", state, where, r.Name)
		if !r.Evaluated || len(r.Conditions) == 0 {
			fmt.Fprintf(&b, "              %s\n", r.Reason)
		}
		for _, c := range r.Conditions {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(&b, "              %s %s: %s\n", mark, c.Condition, c.Detail)
		}
		for _, dr := range r.Dropped {
			fmt.Fprintf(&b, "              dropped %s\n", dr)
		}
	}
	return b.String()
}
