package mapping

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// TestResult is the outcome of one configuration test.
type TestResult struct {
	Name   string
	Passed bool
	// Failures say what differed, with the values compared.
	Failures []string
	// Explanation shows how the rules decided, for printing on failure.
	Explanation Explanation
}

// RunTests runs configuration tests against the compiled rules.
func (m *Mapper) RunTests(tests []Test) []TestResult {
	out := make([]TestResult, 0, len(tests))
	for i, t := range tests {
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("tests[%d]", i)
		}
		d := m.Map(t.Identity.Identity())
		r := TestResult{Name: name, Explanation: d.Explanation()}
		r.Failures = m.check(t.Expect, d)
		r.Passed = len(r.Failures) == 0
		out = append(out, r)
	}
	return out
}

func (m *Mapper) check(want Expect, d Decision) []string {
	var fails []string
	switch want.Decision {
	case OutcomeGrant, OutcomeChoose, OutcomeDeny:
		if d.Outcome != want.Decision {
			fails = append(fails, fmt.Sprintf("decision: want %s, got %s (%s)", want.Decision, d.Outcome, d.Reason))
		}
	case "":
		fails = append(fails, "expect.decision is required (grant, choose or deny)")
	default:
		fails = append(fails, fmt.Sprintf("expect.decision: %q is not grant, choose or deny", want.Decision))
	}
	got := make([]string, 0, len(d.Grants))
	for _, g := range d.Grants {
		got = append(got, g.RoleARN)
	}
	slices.Sort(got)
	if want.Roles != nil {
		var wantARNs []string
		for _, r := range want.Roles {
			ref, err := m.resolveRole(r)
			if err != nil {
				fails = append(fails, fmt.Sprintf("expect.roles: %v", err))
				continue
			}
			wantARNs = append(wantARNs, ref.arn)
		}
		slices.Sort(wantARNs)
		wantARNs = slices.Compact(wantARNs)
		if !slices.Equal(got, wantARNs) {
			fails = append(fails, fmt.Sprintf("roles: want %s, got %s", quoteList(wantARNs), quoteList(got)))
		}
	}
	if want.Rules != nil {
		var matched []string
		for _, r := range d.Rules {
			if r.Matched {
				matched = append(matched, r.Name)
			}
		}
		w := slices.Clone(want.Rules)
		slices.Sort(w)
		slices.Sort(matched)
		if !slices.Equal(w, matched) {
			fails = append(fails, fmt.Sprintf("matched rules: want %s, got %s", quoteList(w), quoteList(matched)))
		}
	}
	for _, g := range d.Grants {
		if want.SessionTags != nil && !maps.Equal(want.SessionTags, g.SessionTags) {
			fails = append(fails, fmt.Sprintf("session_tags of %s: want %s, got %s", g.RoleARN, tagString(want.SessionTags), tagString(g.SessionTags)))
		}
		if want.MaxDuration != 0 && g.MaxDuration > time.Duration(want.MaxDuration) {
			fails = append(fails, fmt.Sprintf("max duration of %s: want at most %s, got %s", g.RoleARN, time.Duration(want.MaxDuration), g.MaxDuration))
		}
		if want.SessionName != "" && g.SessionName != want.SessionName {
			fails = append(fails, fmt.Sprintf("session name of %s: want %s, got %s", g.RoleARN, quote(want.SessionName), quote(g.SessionName)))
		}
	}
	return fails
}

func tagString(tags map[string]string) string {
	keys := slices.Sorted(maps.Keys(tags))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = quote(k) + ": " + quote(tags[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// FormatTestResults renders results for a terminal: one line per test, and
// for each failure the differences and the rule trace. It also returns
// whether all tests passed.
func FormatTestResults(results []TestResult) (string, bool) {
	var b strings.Builder
	ok := true
	for _, r := range results {
		if r.Passed {
			fmt.Fprintf(&b, "PASS %s\n", r.Name)
			continue
		}
		ok = false
		fmt.Fprintf(&b, "FAIL %s\n", r.Name)
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "    %s\n", f)
		}
		for _, line := range strings.Split(strings.TrimRight(r.Explanation.Text(), "\n"), "\n") {
			fmt.Fprintf(&b, "    | %s\n", line)
		}
	}
	pass := 0
	for _, r := range results {
		if r.Passed {
			pass++
		}
	}
	fmt.Fprintf(&b, "%d/%d tests passed\n", pass, len(results))
	return b.String(), ok
}
