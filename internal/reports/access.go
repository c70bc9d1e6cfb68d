package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

// ErrUnknownRole is returned by AccessReport for a role that is not
// configured.
var ErrUnknownRole = errors.New("not a configured role")

// AccessReport is the access advisor's answer: per role, the actions its
// sessions were asked about at the authorize API and the allowed actions
// nobody used within the retention.
type AccessReport struct {
	GeneratedAt   time.Time    `json:"generated_at"`
	RetentionDays int          `json:"retention_days"`
	Roles         []RoleAccess `json:"roles"`
}

// RoleAccess is one role's part of the report.
type RoleAccess struct {
	RoleARN string `json:"role_arn"`
	// Actions asked about, by service then action.
	Actions []ActionUse `json:"actions"`
	// Unused are the actions of the role's Allow statements (as written,
	// wildcards too) that no allowed request matched within the retention:
	// what to trim. NotAction statements cannot be listed.
	Unused    []string `json:"unused"`
	Truncated bool     `json:"truncated,omitempty"`
}

// ActionUse is one action asked about for a role's sessions.
type ActionUse struct {
	Service string `json:"service"`
	// Action as first asked ("s3:GetObject").
	Action        string     `json:"action"`
	Allowed       int64      `json:"allowed"`
	Denied        int64      `json:"denied"`
	LastAsked     *time.Time `json:"last_asked,omitempty"`
	LastAskedBy   string     `json:"last_asked_by,omitempty"`
	LastAllowed   *time.Time `json:"last_allowed,omitempty"`
	LastAllowedBy string     `json:"last_allowed_by,omitempty"`
}

// Roles are the configured role ARNs, sorted.
func (r *Recorder) Roles() []string {
	out := make([]string, 0, len(r.opts.RolePolicies))
	for arn := range r.opts.RolePolicies {
		out = append(out, arn)
	}
	sort.Strings(out)
	return out
}

// ResolveRole finds a configured role by ARN or by name (case-insensitive,
// the last part of the ARN's path).
func (r *Recorder) ResolveRole(role string) (string, error) {
	if _, ok := r.opts.RolePolicies[role]; ok {
		return role, nil
	}
	for _, arn := range r.Roles() {
		if _, name, ok := strings.Cut(arn, ":role/"); ok && strings.EqualFold(path.Base(name), role) {
			return arn, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownRole, role)
}

// AccessReport makes the access advisor's report of one role (by ARN or
// name), or of every configured role when role is "".
func (r *Recorder) AccessReport(ctx context.Context, role string) (*AccessReport, error) {
	roles := r.Roles()
	if role != "" {
		arn, err := r.ResolveRole(role)
		if err != nil {
			return nil, err
		}
		roles = []string{arn}
	}
	now := r.now()
	rep := &AccessReport{
		GeneratedAt:   now.UTC().Truncate(time.Second),
		RetentionDays: int(r.opts.Retention / (24 * time.Hour)),
		Roles:         []RoleAccess{},
	}
	since := now.Add(-r.opts.Retention).UnixMilli()
	for _, arn := range roles {
		recs, err := r.st.ListAggregates(ctx, accessSet(arn))
		ra := RoleAccess{RoleARN: arn, Actions: []ActionUse{}, Unused: []string{}}
		switch {
		case errors.Is(err, store.ErrTruncated):
			ra.Truncated = true
		case err != nil:
			return nil, fmt.Errorf("reports: %w", err)
		}
		var used []string
		for _, rec := range recs {
			u := ActionUse{
				Action:  rec.Fields[fAction].Text,
				Allowed: rec.Fields[fAllowed].N, Denied: rec.Fields[fDenied].N,
				LastAskedBy: rec.Fields[fLast].Text, LastAllowedBy: rec.Fields[fLastAllowed].Text,
			}
			if u.Action == "" {
				u.Action = rec.ID
			}
			u.Service, _, _ = strings.Cut(u.Action, ":")
			u.Service = strings.ToLower(u.Service)
			la, ok := rec.Fields[fLast]
			u.LastAsked = msTime(la, ok)
			lal, ok := rec.Fields[fLastAllowed]
			u.LastAllowed = msTime(lal, ok)
			if ok && lal.N >= since && u.Allowed > 0 {
				used = append(used, rec.ID)
			}
			ra.Actions = append(ra.Actions, u)
		}
		sort.Slice(ra.Actions, func(i, j int) bool {
			a, b := ra.Actions[i], ra.Actions[j]
			if a.Service != b.Service {
				return a.Service < b.Service
			}
			return strings.ToLower(a.Action) < strings.ToLower(b.Action)
		})
		for _, pattern := range AllowedActions(r.opts.RolePolicies[arn]) {
			if !matchesAny(pattern, used) {
				ra.Unused = append(ra.Unused, pattern)
			}
		}
		rep.Roles = append(rep.Roles, ra)
	}
	return rep, nil
}

// matchesAny reports whether an IAM action pattern (case-insensitive, * and
// ? wildcards) matches one of the used actions (lower case).
func matchesAny(pattern string, used []string) bool {
	p := strings.ToLower(pattern)
	for _, a := range used {
		if globMatch(p, a) {
			return true
		}
	}
	return false
}

// globMatch matches s against p, where * is any run and ? one character
// (IAM's action wildcards; no other character is special).
func globMatch(p, s string) bool {
	star, match := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(p) && (p[i] == '?' || p[i] == s[j]):
			i++
			j++
		case i < len(p) && p[i] == '*':
			star, match = i, j
			i++
		case star >= 0:
			i = star + 1
			match++
			j = match
		default:
			return false
		}
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}

// AllowedActions lists the actions of the Allow statements of docs (IAM
// policy JSON), as written, without duplicates (compared without case), in
// the order they first appear. Documents that do not parse are skipped
// (the STS has refused them at start).
func AllowedActions(docs [][]byte) []string {
	var out []string
	seen := map[string]bool{}
	for _, doc := range docs {
		var p struct {
			Statement json.RawMessage
		}
		if json.Unmarshal(doc, &p) != nil {
			continue
		}
		var stmts []struct {
			Effect string
			Action json.RawMessage
		}
		if json.Unmarshal(p.Statement, &stmts) != nil {
			var one struct {
				Effect string
				Action json.RawMessage
			}
			if json.Unmarshal(p.Statement, &one) != nil {
				continue
			}
			stmts = append(stmts, one)
		}
		for _, st := range stmts {
			if st.Effect != "Allow" || len(st.Action) == 0 {
				continue
			}
			var list []string
			if json.Unmarshal(st.Action, &list) != nil {
				var a string
				if json.Unmarshal(st.Action, &a) != nil {
					continue
				}
				list = []string{a}
			}
			for _, a := range list {
				if k := strings.ToLower(a); !seen[k] {
					seen[k] = true
					out = append(out, a)
				}
			}
		}
	}
	return out
}
