// Package policy implements the AWS IAM policy language: parsing and
// validating policy documents (identity/session, role trust and
// resource-based policies), compiling them once into a form that evaluates
// without parsing, and evaluating requests with IAM's decision rules
// (explicit deny > allow > implicit deny), condition operators, set
// operators and policy variables.
//
// The package is pure: no I/O, no logging, no global mutable state. The
// behaviour follows STS-SPEC.md §7 (grammar, matching, operators, variables,
// decision algorithm) and §8.3 (size limits).
//
// Choices where IAM is ambiguous or unpublished, always towards refusing:
//   - invalid condition values (a CIDR that does not parse, a date, a number,
//     base64) make the document malformed instead of a condition that never
//     matches, since a never-matching Deny would fail open;
//   - unknown condition operators and unknown elements are malformed;
//   - a trust policy may only name sts: actions;
//   - Bool takes literal "true"/"false" only (the IAM pages disagree on
//     whether variables are allowed there);
//   - the value a policy variable resolves to is matched literally: '*' or
//     '?' inside a tag value is not a wildcard;
//   - an unresolvable variable in NotResource keeps an Allow statement from
//     applying but does not keep a Deny statement from applying.
package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the kind of policy a document is validated as.
type Kind int

const (
	// Identity is a permissions policy attached to a role or user, or a
	// session policy: it needs Action and Resource and must not name a
	// Principal.
	Identity Kind = iota
	// Trust is a role trust policy: it needs a Principal and must not have
	// Resource or NotResource; NotPrincipal is not allowed.
	Trust
	// Resource is a resource-based policy (bucket policy and the like): it
	// needs a Principal or NotPrincipal, an Action and a Resource.
	Resource
)

func (k Kind) String() string {
	switch k {
	case Identity:
		return "Identity"
	case Trust:
		return "Trust"
	case Resource:
		return "Resource"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Policy versions.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// MalformedError is a policy document that IAM would refuse with
// MalformedPolicyDocument. Error() gives the AWS-style text followed by where
// the problem is.
type MalformedError struct {
	// Reason is the AWS-style message, e.g. "Policy statement must contain resources."
	Reason string
	// Statement is the 1-based index of the statement at fault; 0 for the document.
	Statement int
	// Sid is the statement's Sid, when it has one.
	Sid string
	// Field is the element at fault ("Effect", "Condition", ...), or "".
	Field string
	// Err is an underlying cause (e.g. a JSON syntax error), or nil.
	Err error
}

func (e *MalformedError) Error() string {
	var b strings.Builder
	b.WriteString(e.Reason)
	var loc []string
	if e.Statement > 0 {
		loc = append(loc, "statement "+strconv.Itoa(e.Statement))
	}
	if e.Sid != "" {
		loc = append(loc, "Sid "+quote(e.Sid))
	}
	if e.Field != "" {
		loc = append(loc, "field "+e.Field)
	}
	if e.Err != nil {
		loc = append(loc, e.Err.Error())
	}
	if len(loc) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(loc, ", "))
		b.WriteString(")")
	}
	return b.String()
}

func (e *MalformedError) Unwrap() error { return e.Err }

// Reasons used in MalformedError, mirroring IAM's texts where known.
const (
	reasonSyntax        = "Syntax errors in policy."
	reasonVersion       = "Policy document must be version 2012-10-17 or greater."
	reasonNoActions     = "Policy statement must contain actions."
	reasonNoResources   = "Policy statement must contain resources."
	reasonNoPrincipal   = "Missing required field Principal."
	reasonHasPrincipal  = "Policy document should not specify a principal."
	reasonNoStatement   = "Missing required field Statement."
	reasonVendor        = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	reasonOneColon      = "Actions/Condition can contain only one colon."
	reasonSidUnique     = "Statement IDs (SID) in a single policy must be unique."
	reasonSidChars      = "Statement IDs (SID) must be alpha-numeric."
	reasonBadEffect     = "Invalid effect."
	reasonBadPrincipal  = "Invalid principal in policy."
	reasonResourceVend  = "Resource vendor must be fully qualified and cannot contain regexes."
	reasonDuplicate     = "Duplicate key in policy document."
	reasonBadCondition  = "Invalid Condition in policy."
	reasonTooLarge      = "Policy document exceeds the maximum size."
	reasonBothElements  = "Statement has both an element and its negation."
	reasonProhibitedRes = "Has prohibited field Resource."
	reasonTrustAction   = "AssumeRole policy may only specify STS AssumeRole actions."
)

// Policy is a parsed, validated and compiled policy document. It is
// immutable after Parse (apart from SetName) and safe for concurrent
// evaluation.
type Policy struct {
	name    string
	kind    Kind
	version string
	id      string
	stmts   []statement
}

// Name is the label reported in Match.Policy.
func (p *Policy) Name() string { return p.name }

// SetName sets the label reported in Match.Policy. Call it before sharing the
// policy between goroutines.
func (p *Policy) SetName(name string) { p.name = name }

// Kind is the kind the policy was parsed as.
func (p *Policy) Kind() Kind { return p.kind }

// Version is the policy language version ("2012-10-17", or "2008-10-17"
// also when the document had none).
func (p *Policy) Version() string { return p.version }

// Statements is the number of statements.
func (p *Policy) Statements() int { return len(p.stmts) }

type statement struct {
	index int // 1-based
	sid   string
	deny  bool

	hasPrincipal bool
	notPrincipal bool
	principal    principalSet

	notAction bool
	actions   []pattern

	hasResource bool
	notResource bool
	resources   []arnPattern

	conds []condition
}

// Parse parses and validates doc as a policy of the given kind and compiles
// it. Errors are *MalformedError.
func Parse(doc []byte, kind Kind) (*Policy, error) {
	if kind < Identity || kind > Resource {
		return nil, &MalformedError{Reason: reasonSyntax, Err: fmt.Errorf("unknown policy kind %d", kind)}
	}
	if len(doc) > 4*MaxPolicyDocumentChars || utf8.RuneCount(doc) > MaxPolicyDocumentChars {
		return nil, &MalformedError{Reason: reasonTooLarge}
	}
	root, err := decodeJSON(doc)
	if err != nil {
		me := &MalformedError{Reason: reasonSyntax, Err: err}
		var de *dupKeyError
		if errors.As(err, &de) {
			me.Reason = reasonDuplicate
			me.Statement, me.Field = de.location()
		}
		return nil, me
	}
	if root.kind != jObject {
		return nil, &MalformedError{Reason: reasonSyntax, Err: errors.New("policy document is not a JSON object")}
	}
	p := &Policy{kind: kind, version: Version2008}
	var stmtVal *jval
	hasVersion := false
	for i := range root.obj {
		f := &root.obj[i]
		switch f.key {
		case "Version":
			if f.val.kind != jString {
				return nil, &MalformedError{Reason: reasonSyntax, Field: "Version", Err: errors.New("Version must be a string")}
			}
			switch f.val.s {
			case Version2012, Version2008:
				p.version = f.val.s
				hasVersion = true
			default:
				return nil, &MalformedError{Reason: reasonVersion, Field: "Version", Err: fmt.Errorf("unsupported version %s", quote(f.val.s))}
			}
		case "Id":
			if f.val.kind != jString {
				return nil, &MalformedError{Reason: reasonSyntax, Field: "Id", Err: errors.New("Id must be a string")}
			}
			p.id = f.val.s
		case "Statement":
			stmtVal = &f.val
		default:
			return nil, &MalformedError{Reason: reasonSyntax, Field: f.key, Err: fmt.Errorf("unknown element %s", quote(f.key))}
		}
	}
	_ = hasVersion
	if stmtVal == nil {
		return nil, &MalformedError{Reason: reasonNoStatement, Field: "Statement"}
	}
	var list []jval
	switch stmtVal.kind {
	case jObject:
		list = []jval{*stmtVal}
	case jArray:
		list = stmtVal.arr
	default:
		return nil, &MalformedError{Reason: reasonSyntax, Field: "Statement", Err: errors.New("Statement must be an object or a list of objects")}
	}
	if len(list) == 0 {
		return nil, &MalformedError{Reason: reasonSyntax, Field: "Statement", Err: errors.New("Statement list is empty")}
	}
	vars := p.version == Version2012
	sids := make(map[string]bool)
	for i := range list {
		st, err := parseStatement(&list[i], i+1, kind, vars)
		if err != nil {
			return nil, err
		}
		if st.sid != "" {
			if sids[st.sid] {
				return nil, &MalformedError{Reason: reasonSidUnique, Statement: i + 1, Sid: st.sid, Field: "Sid"}
			}
			sids[st.sid] = true
		}
		p.stmts = append(p.stmts, st)
	}
	return p, nil
}

func parseStatement(v *jval, idx int, kind Kind, vars bool) (statement, error) {
	st := statement{index: idx}
	if v.kind != jObject {
		return st, &MalformedError{Reason: reasonSyntax, Statement: idx, Err: errors.New("statement is not a JSON object")}
	}
	// Sid first so that every later error can name it.
	for _, f := range v.obj {
		if f.key == "Sid" {
			if f.val.kind != jString {
				return st, &MalformedError{Reason: reasonSyntax, Statement: idx, Field: "Sid", Err: errors.New("Sid must be a string")}
			}
			st.sid = f.val.s
			if kind != Resource && !isAlnum(st.sid) {
				return st, &MalformedError{Reason: reasonSidChars, Statement: idx, Sid: st.sid, Field: "Sid"}
			}
		}
	}
	bad := func(reason, field string, err error) error {
		return &MalformedError{Reason: reason, Statement: idx, Sid: st.sid, Field: field, Err: err}
	}
	var (
		effect                        *jval
		action, notAction             *jval
		resource, notResource         *jval
		principal, notPrincipal, cond *jval
	)
	for i := range v.obj {
		f := &v.obj[i]
		switch f.key {
		case "Sid":
		case "Effect":
			effect = &f.val
		case "Action":
			action = &f.val
		case "NotAction":
			notAction = &f.val
		case "Resource":
			resource = &f.val
		case "NotResource":
			notResource = &f.val
		case "Principal":
			principal = &f.val
		case "NotPrincipal":
			notPrincipal = &f.val
		case "Condition":
			cond = &f.val
		default:
			return st, bad(reasonSyntax, f.key, fmt.Errorf("unknown element %s", quote(f.key)))
		}
	}

	// Effect
	if effect == nil {
		return st, bad(reasonSyntax, "Effect", errors.New("missing Effect"))
	}
	if effect.kind != jString || (effect.s != "Allow" && effect.s != "Deny") {
		return st, bad(reasonBadEffect, "Effect", errors.New(`Effect must be "Allow" or "Deny"`))
	}
	st.deny = effect.s == "Deny"

	// Principal / NotPrincipal
	if principal != nil && notPrincipal != nil {
		return st, bad(reasonBothElements, "Principal", errors.New("both Principal and NotPrincipal"))
	}
	switch kind {
	case Identity:
		if principal != nil {
			return st, bad(reasonHasPrincipal, "Principal", nil)
		}
		if notPrincipal != nil {
			return st, bad(reasonHasPrincipal, "NotPrincipal", nil)
		}
	case Trust:
		if notPrincipal != nil {
			return st, bad(reasonBadPrincipal, "NotPrincipal", errors.New("NotPrincipal is not allowed in a trust policy"))
		}
		if principal == nil {
			return st, bad(reasonNoPrincipal, "Principal", nil)
		}
	case Resource:
		if principal == nil && notPrincipal == nil {
			return st, bad(reasonNoPrincipal, "Principal", nil)
		}
	}
	if principal != nil || notPrincipal != nil {
		pv, field := principal, "Principal"
		if notPrincipal != nil {
			pv, field = notPrincipal, "NotPrincipal"
			st.notPrincipal = true
		}
		ps, err := parsePrincipal(pv)
		if err != nil {
			return st, bad(reasonBadPrincipal, field, err)
		}
		st.hasPrincipal, st.principal = true, ps
	}

	// Action / NotAction
	if action != nil && notAction != nil {
		return st, bad(reasonBothElements, "Action", errors.New("both Action and NotAction"))
	}
	av, afield := action, "Action"
	if notAction != nil {
		av, afield = notAction, "NotAction"
		st.notAction = true
	}
	if av == nil {
		return st, bad(reasonNoActions, "Action", nil)
	}
	acts, ok := av.stringList()
	if !ok {
		if av.kind == jArray && len(av.arr) == 0 {
			return st, bad(reasonNoActions, afield, nil)
		}
		return st, bad(reasonSyntax, afield, errors.New("must be a string or a list of strings"))
	}
	for _, a := range acts {
		if err := validateAction(a); err != nil {
			return st, bad(err.Error(), afield, fmt.Errorf("action %s", quote(a)))
		}
		if kind == Trust && !strings.HasPrefix(strings.ToLower(a), "sts:") {
			return st, bad(reasonTrustAction, afield, fmt.Errorf("action %s", quote(a)))
		}
		st.actions = append(st.actions, compilePattern(a, compileOpts{wild: true}))
	}

	// Resource / NotResource
	if resource != nil && notResource != nil {
		return st, bad(reasonBothElements, "Resource", errors.New("both Resource and NotResource"))
	}
	rv, rfield := resource, "Resource"
	if notResource != nil {
		rv, rfield = notResource, "NotResource"
		st.notResource = true
	}
	if kind == Trust {
		if rv != nil {
			return st, bad(reasonProhibitedRes, rfield, nil)
		}
	} else {
		if rv == nil {
			return st, bad(reasonNoResources, "Resource", nil)
		}
		res, ok := rv.stringList()
		if !ok {
			if rv.kind == jArray && len(rv.arr) == 0 {
				return st, bad(reasonNoResources, rfield, nil)
			}
			return st, bad(reasonSyntax, rfield, errors.New("must be a string or a list of strings"))
		}
		for _, r := range res {
			if reason := validateResource(r); reason != "" {
				return st, bad(reason, rfield, fmt.Errorf("resource %s", quote(r)))
			}
			st.resources = append(st.resources, compileARN(r, vars))
		}
		st.hasResource = true
	}

	// Condition
	if cond != nil {
		cs, err := parseConditions(cond, vars)
		if err != nil {
			return st, bad(reasonBadCondition, "Condition", err)
		}
		st.conds = cs
	}
	return st, nil
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validateAction checks "*" or "vendor:name" with a plain vendor and
// exactly one colon. The returned error's text is the IAM reason.
func validateAction(a string) error {
	if a == "*" {
		return nil
	}
	i := strings.IndexByte(a, ':')
	if i <= 0 {
		return errors.New(reasonVendor)
	}
	if strings.IndexByte(a[i+1:], ':') >= 0 {
		return errors.New(reasonOneColon)
	}
	vendor := a[:i]
	for j := 0; j < len(vendor); j++ {
		c := vendor[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("Vendor %s is not valid", vendor)
		}
	}
	if a[i+1:] == "" {
		return errors.New(reasonSyntax)
	}
	return nil
}

// validateResource returns an IAM reason when r is neither "*" nor an ARN
// pattern with a literal service segment.
func validateResource(r string) string {
	if r == "*" {
		return ""
	}
	if !strings.HasPrefix(r, "arn:") {
		return fmt.Sprintf("Resource %s must be in ARN format or \"*\".", r)
	}
	parts := strings.SplitN(r, ":", arnSegments)
	if len(parts) < 3 || parts[2] == "" || strings.ContainsAny(parts[2], "*?$") {
		return reasonResourceVend
	}
	if parts[2] == "iam" && len(parts) > 3 && parts[3] != "" && parts[3] != "*" {
		return fmt.Sprintf("IAM resource %s cannot contain region information.", r)
	}
	return ""
}
