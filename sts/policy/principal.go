package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Principal types as they appear in a policy's Principal element and as keys
// of Request.Principal.
const (
	PrincipalAWS           = "AWS"
	PrincipalFederated     = "Federated"
	PrincipalService       = "Service"
	PrincipalCanonicalUser = "CanonicalUser"
)

// principalSet is a compiled Principal element. Multiple principals are OR-ed.
type principalSet struct {
	everyone bool // "*" or {"AWS": "*"}

	accounts []awsAccount // 123456789012 or arn:<p>:iam::123456789012:root
	awsARNs  []string     // exact user/role/session ARNs and unique IDs

	anyFederated bool
	federated    []string
	anyService   bool
	services     []string
	anyCanonical bool
	canonical    []string
}

type awsAccount struct {
	partition string // "" when given as a bare account ID
	account   string
}

func parsePrincipal(v *jval) (principalSet, error) {
	var ps principalSet
	if v.kind == jString {
		if v.s == "*" {
			ps.everyone = true
			return ps, nil
		}
		return ps, fmt.Errorf("principal %s must be \"*\" or an object", quote(v.s))
	}
	if v.kind != jObject || len(v.obj) == 0 {
		return ps, errors.New("Principal must be \"*\" or a non-empty object")
	}
	for _, f := range v.obj {
		vals, ok := f.val.stringList()
		if !ok {
			return ps, fmt.Errorf("principal %s must be a string or a non-empty list of strings", f.key)
		}
		for _, s := range vals {
			if s == "" {
				return ps, fmt.Errorf("empty %s principal", f.key)
			}
			wild := s == "*"
			if !wild && strings.ContainsAny(s, "*?") {
				return ps, fmt.Errorf("wildcards cannot match part of a principal: %s", quote(s))
			}
			switch f.key {
			case PrincipalAWS:
				if wild {
					ps.everyone = true
					continue
				}
				if err := ps.addAWS(s); err != nil {
					return ps, err
				}
			case PrincipalFederated:
				if wild {
					ps.anyFederated = true
				} else {
					ps.federated = append(ps.federated, s)
				}
			case PrincipalService:
				if wild {
					ps.anyService = true
				} else {
					ps.services = append(ps.services, s)
				}
			case PrincipalCanonicalUser:
				if wild {
					ps.anyCanonical = true
				} else {
					ps.canonical = append(ps.canonical, s)
				}
			default:
				return ps, fmt.Errorf("unknown principal type %s", quote(f.key))
			}
		}
	}
	return ps, nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isUniqueID accepts IAM unique IDs (AIDA..., AROA...), which IAM leaves in
// a trust policy in place of a deleted user or role.
func isUniqueID(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// splitARN returns the partition, service, account and resource of an ARN.
func splitARN(s string) (partition, service, account, resource string, ok bool) {
	if !strings.HasPrefix(s, "arn:") {
		return "", "", "", "", false
	}
	parts := strings.SplitN(s, ":", arnSegments)
	if len(parts) != arnSegments {
		return "", "", "", "", false
	}
	return parts[1], parts[2], parts[4], parts[5], true
}

func (ps *principalSet) addAWS(s string) error {
	if isAccountID(s) {
		ps.accounts = append(ps.accounts, awsAccount{account: s})
		return nil
	}
	if isUniqueID(s) {
		ps.awsARNs = append(ps.awsARNs, s)
		return nil
	}
	part, svc, acct, res, ok := splitARN(s)
	if !ok || part == "" || !isAccountID(acct) || res == "" || (svc != "iam" && svc != "sts") {
		return fmt.Errorf("invalid AWS principal %s", quote(s))
	}
	if svc == "iam" && res == "root" {
		ps.accounts = append(ps.accounts, awsAccount{partition: part, account: acct})
		return nil
	}
	ps.awsARNs = append(ps.awsARNs, s)
	return nil
}

// match reports whether any identifier of the request principal is named.
func (ps *principalSet) match(req map[string][]string) bool {
	if ps.everyone {
		return true
	}
	for typ, ids := range req {
		switch {
		case strings.EqualFold(typ, PrincipalAWS):
			for _, id := range ids {
				if ps.matchAWS(id) {
					return true
				}
			}
		case strings.EqualFold(typ, PrincipalFederated):
			if matchList(ps.anyFederated, ps.federated, ids) {
				return true
			}
		case strings.EqualFold(typ, PrincipalService):
			if matchList(ps.anyService, ps.services, ids) {
				return true
			}
		case strings.EqualFold(typ, PrincipalCanonicalUser):
			if matchList(ps.anyCanonical, ps.canonical, ids) {
				return true
			}
		}
	}
	return false
}

func matchList(anyOf bool, names, ids []string) bool {
	for _, id := range ids {
		if id == "" {
			continue
		}
		if anyOf {
			return true
		}
		for _, n := range names {
			if n == id {
				return true
			}
		}
	}
	return false
}

// matchAWS: an account principal matches every identity of that account
// (a bare account ID, the root ARN, any user/role/session ARN of it); an ARN
// principal matches that exact ARN. The caller puts every identifier of the
// requester into Request.Principal["AWS"] (session ARN and role ARN).
func (ps *principalSet) matchAWS(id string) bool {
	if id == "" {
		return false
	}
	for _, n := range ps.awsARNs {
		if n == id {
			return true
		}
	}
	if len(ps.accounts) == 0 {
		return false
	}
	var part, acct string
	if isAccountID(id) {
		acct = id
	} else {
		p, _, a, _, ok := splitARN(id)
		if !ok {
			return false
		}
		part, acct = p, a
	}
	for _, a := range ps.accounts {
		if a.account == acct && (a.partition == "" || part == "" || a.partition == part) {
			return true
		}
	}
	return false
}
