package policy

import "strconv"

// Request is what a policy is evaluated against.
type Request struct {
	// Action is "service:Action", e.g. "sts:AssumeRoleWithWebIdentity".
	Action string
	// Resource is the ARN acted on ("*" for actions without a resource).
	Resource string
	// Principal identifies the caller for trust and resource-based policies:
	// "AWS", "Federated", "Service", "CanonicalUser" -> identifiers. For a
	// role session put both the assumed-role session ARN and the role ARN
	// under "AWS"; account principals match any ARN of their account.
	Principal map[string][]string
	// Context holds the condition keys; nil reads as empty.
	Context *Context
}

// Decision is the outcome of an evaluation.
type Decision int

const (
	// ImplicitDeny: no statement allowed the request.
	ImplicitDeny Decision = iota
	// Allow: a statement allowed it and none denied it.
	Allow
	// ExplicitDeny: a Deny statement applied.
	ExplicitDeny
)

func (d Decision) String() string {
	switch d {
	case ImplicitDeny:
		return "ImplicitDeny"
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "Decision(" + strconv.Itoa(int(d)) + ")"
}

// Match names a statement that decided.
type Match struct {
	Policy string // Policy.Name()
	Sid    string // the statement's Sid ("" when it has none)
	Effect string // "Allow" or "Deny"
}

// Result is a decision and the statements behind it: the Deny statements
// that applied for ExplicitDeny, the Allow statements that applied for
// Allow, none for ImplicitDeny.
type Result struct {
	Decision Decision
	Matched  []Match
}

// Evaluate evaluates one policy: explicit deny beats allow beats implicit
// deny. For Trust and Resource policies the statement's Principal must match
// r.Principal. Evaluation does no parsing; it allocates only to report
// matched statements.
func (p *Policy) Evaluate(r *Request) Result {
	if p == nil || r == nil {
		return Result{Decision: ImplicitDeny}
	}
	var allows, denies []Match
	for i := range p.stmts {
		st := &p.stmts[i]
		if !st.applies(p.kind, r) {
			continue
		}
		m := Match{Policy: p.name, Sid: st.sid, Effect: "Allow"}
		if st.deny {
			m.Effect = "Deny"
			denies = append(denies, m)
		} else if len(denies) == 0 {
			allows = append(allows, m)
		}
	}
	switch {
	case len(denies) > 0:
		return Result{Decision: ExplicitDeny, Matched: denies}
	case len(allows) > 0:
		return Result{Decision: Allow, Matched: allows}
	}
	return Result{Decision: ImplicitDeny}
}

// Authorize combines policy sets (§7.5): an explicit deny in any policy wins;
// otherwise some identity policy must allow, and when session is non-nil
// some session policy must allow too (a session policy only narrows what the
// identity policies grant). Matched lists the deciding statements: every
// applying Deny for ExplicitDeny, the applying Allows of both sets for Allow.
func Authorize(r *Request, identity []*Policy, session []*Policy) Result {
	var denies, idAllows, sessAllows []Match
	eval := func(ps []*Policy, allows *[]Match) {
		for _, p := range ps {
			if p == nil {
				continue
			}
			res := p.Evaluate(r)
			switch res.Decision {
			case ExplicitDeny:
				denies = append(denies, res.Matched...)
			case Allow:
				*allows = append(*allows, res.Matched...)
			}
		}
	}
	eval(identity, &idAllows)
	eval(session, &sessAllows)
	if len(denies) > 0 {
		return Result{Decision: ExplicitDeny, Matched: denies}
	}
	if len(idAllows) == 0 || (session != nil && len(sessAllows) == 0) {
		return Result{Decision: ImplicitDeny}
	}
	return Result{Decision: Allow, Matched: append(idAllows, sessAllows...)}
}

// applies reports whether every element of the statement matches r.
func (st *statement) applies(kind Kind, r *Request) bool {
	// Action (case-insensitive).
	matched := false
	for i := range st.actions {
		if ok, _ := st.actions[i].match(r.Action, true, nil); ok {
			matched = true
			break
		}
	}
	if matched == st.notAction {
		return false
	}
	// Resource (case-sensitive, per ARN segment).
	if st.hasResource {
		matched = false
		for i := range st.resources {
			ok, unresolved := st.resources[i].match(r.Resource, r.Context)
			if unresolved && st.notResource && !st.deny {
				// An unresolvable NotResource entry must not widen an Allow.
				return false
			}
			if ok {
				matched = true
				break
			}
		}
		if matched == st.notResource {
			return false
		}
	}
	// Principal (trust and resource-based policies).
	if st.hasPrincipal && kind != Identity {
		if st.principal.match(r.Principal) == st.notPrincipal {
			return false
		}
	}
	// Conditions: every (operator, key) must hold.
	for i := range st.conds {
		if !st.conds[i].eval(r.Context) {
			return false
		}
	}
	return true
}
