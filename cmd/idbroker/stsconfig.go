package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

// stsRolesAndPolicies are the roles and the named policies of the
// configuration as the STS takes them, each with the key path it has in
// the file, so that sts.New names the file's keys in its problems. A role
// trusts the broker (broker.Trust adds the statements that accept its
// tokens and assertions) unless trust_broker is false.
// The problems returned are those that keep a role from the STS: a trust
// policy the broker's statements cannot be added to (other than a
// malformed one, which the STS reports), or no trust policy at all;
// sts.New reports everything else about roles and policies.
func stsRolesAndPolicies(cfg *fileConfig, bt broker.Trust) (roles []sts.RoleConfig, policies []sts.ManagedPolicy, errs []error) {
	for i, p := range cfg.Policies {
		policies = append(policies, sts.ManagedPolicy{Name: p.Name, Document: p.Document.JSON, KeyPath: fmt.Sprintf("policies[%d]", i)})
	}
	for i, r := range cfg.Roles {
		rc := sts.RoleConfig{
			Name: r.Name, Path: r.Path, MaxSessionDuration: time.Duration(r.MaxSessionDuration),
			PolicyARNs: r.PolicyARNs, KeyPath: fmt.Sprintf("roles[%d]", i),
		}
		for _, p := range r.Policies {
			rc.Policies = append(rc.Policies, p.JSON)
		}
		var trust []byte
		if r.TrustPolicy != nil {
			trust = r.TrustPolicy.JSON
		}
		if r.TrustBroker == nil || *r.TrustBroker {
			merged, err := bt.Add(trust, r.Name)
			var malformed *policy.MalformedError
			switch {
			case err == nil:
				trust = merged
			case errors.As(err, &malformed):
				// The user's document as written goes to the STS, which
				// refuses it in the same words, with the role's other
				// problems.
			default:
				errs = append(errs, fmt.Errorf("roles[%d].trust_policy: %w", i, err))
				continue
			}
		}
		if len(trust) == 0 {
			errs = append(errs, errNoTrust(i))
			continue
		}
		rc.TrustPolicy = trust
		roles = append(roles, rc)
	}
	return roles, policies, errs
}

// problemsOf lists the problems err holds, one per error: the members of
// an errors.Join (also under a prefix such as "mapping: ", whose members
// name their own keys), recursively.
func problemsOf(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, problemsOf(e)...)
		}
		return out
	}
	if inner := errors.Unwrap(err); inner != nil {
		if _, ok := inner.(interface{ Unwrap() []error }); ok {
			return problemsOf(inner)
		}
	}
	return []error{err}
}
