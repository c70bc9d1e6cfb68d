package sts

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

// RoleConfig is one assumable role.
type RoleConfig struct {
	// Name is the role name, 1-64 characters of [\w+=,.@-].
	Name string
	// Path is the IAM path, "/" when empty; must start and end with "/".
	Path string
	// MaxSessionDuration is 1h..12h; 0 means 1h.
	MaxSessionDuration time.Duration
	// TrustPolicy is the role's trust policy (JSON, IAM grammar).
	TrustPolicy []byte
	// Policies are inline permission policies (JSON).
	Policies [][]byte
	// PolicyARNs are managed policies of this account attached to the role.
	PolicyARNs []string
	// KeyPath is where the role is written in the caller's configuration
	// ("roles[2]"); New names its problems under it (see Config).
	KeyPath string
}

// ManagedPolicy is a customer managed policy of the account.
type ManagedPolicy struct {
	// Name is 1-128 characters of [\w+=,.@-]; the policy's ARN is
	// arn:<partition>:iam::<account>:policy/<Name>.
	Name string
	// Document is the policy (JSON, IAM grammar).
	Document []byte
	// KeyPath is where the policy is written in the caller's configuration
	// ("policies[0]"); New names its problems under it (see Config).
	KeyPath string
}

type role struct {
	name, path, arn, id string
	maxDuration         time.Duration
	trust               *policy.Policy
	policies            []*policy.Policy // inline then managed
}

var (
	accountPattern    = regexp.MustCompile(`^[0-9]{12}$`)
	roleNamePattern   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	rolePathPattern   = regexp.MustCompile(`^/([\x21-\x7E]*/)?$`)
	policyNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
)

// compileManagedPolicy parses a managed policy under its ARN. A policy
// with a valid name but a broken document is recorded as nil, so that the
// roles attaching it are not blamed for it again (New fails, so the nil
// never serves).
func (s *Service) compileManagedPolicy(mp ManagedPolicy, path string, errs *configProblems) {
	if !policyNamePattern.MatchString(mp.Name) {
		errs.addf(path+".name", "%q is not a valid policy name (1-128 characters of [\\w+=,.@-])", mp.Name)
		return
	}
	arn := s.managedPolicyARN(mp.Name)
	if _, dup := s.managed[arn]; dup {
		errs.addf(path+".name", "%q is defined twice", mp.Name)
		return
	}
	p, err := parsePolicy(mp.Document, policy.Identity)
	if err == nil {
		err = policy.CheckManagedPolicySize(mp.Document)
	}
	if err != nil {
		errs.add(path+".document", err)
		s.managed[arn] = nil
		return
	}
	p.SetName(arn)
	s.managed[arn] = p
}

// compileRole compiles one role, recording every problem of it under
// path. The role is nil when its name or path is unusable (the others
// fields are checked all the same); ok is false when it has any problem.
func (s *Service) compileRole(rc RoleConfig, path string, errs *configProblems) (r *role, ok bool) {
	before := len(*errs)
	r = &role{name: rc.Name, path: rc.Path, maxDuration: rc.MaxSessionDuration}
	named := true
	if !roleNamePattern.MatchString(rc.Name) {
		errs.addf(path+".name", "%q must be 1-64 characters of [\\w+=,.@-]", rc.Name)
		named = false
	}
	if r.path == "" {
		r.path = "/"
	}
	if len(r.path) > 512 || !rolePathPattern.MatchString(r.path) {
		errs.addf(path+".path", "%q must start and end with / (at most 512 printable ASCII characters)", rc.Path)
		named = false
	}
	if r.maxDuration == 0 {
		r.maxDuration = awsspec.DefaultRoleMaxSessionDuration
	}
	if r.maxDuration < awsspec.MinRoleMaxSessionDuration || r.maxDuration > awsspec.MaxSessionDuration || r.maxDuration%time.Second != 0 {
		errs.addf(path+".max_session_duration", "%v must be whole seconds between %v and %v",
			rc.MaxSessionDuration, awsspec.MinRoleMaxSessionDuration, awsspec.MaxSessionDuration)
	}
	r.arn = awsspec.RoleARN(s.partition, s.account, r.path, r.name)
	r.id = roleID(s.account, r.arn)
	// The trust policy is not held to IAM's 2,048 characters: the broker
	// appends its own statements to it (cmd/idbroker), and IAM lets that
	// quota be raised.
	if trust, err := parsePolicy(rc.TrustPolicy, policy.Trust); err != nil {
		errs.add(path+".trust_policy", err)
	} else {
		trust.SetName(r.arn + " (trust policy)")
		r.trust = trust
	}
	if err := policy.CheckRoleInlinePolicySize(rc.Policies); err != nil {
		errs.add(path+".policies", err)
	}
	for j, doc := range rc.Policies {
		p, err := parsePolicy(doc, policy.Identity)
		if err != nil {
			errs.add(fmt.Sprintf("%s.policies[%d]", path, j), err)
			continue
		}
		p.SetName(fmt.Sprintf("%s (inline %d)", r.arn, j))
		r.policies = append(r.policies, p)
	}
	for j, arn := range rc.PolicyARNs {
		p, ok := s.managed[arn]
		if !ok {
			errs.addf(fmt.Sprintf("%s.policy_arns[%d]", path, j), "%q is not the ARN of a managed policy (%s)", arn, s.managedPolicyARN("<name>"))
			continue
		}
		if p == nil {
			continue // a broken managed policy, reported already
		}
		r.policies = append(r.policies, p)
	}
	if !named {
		return nil, false
	}
	return r, len(*errs) == before
}

// parsePolicy parses a policy document of the configuration; a malformed
// one is refused in IAM's words.
func parsePolicy(doc []byte, kind policy.Kind) (*policy.Policy, error) {
	if len(doc) == 0 {
		return nil, errors.New("missing")
	}
	p, err := policy.Parse(doc, kind)
	if err != nil {
		return nil, fmt.Errorf("MalformedPolicyDocument: %w", err)
	}
	return p, nil
}

func (s *Service) managedPolicyARN(name string) string {
	return awsspec.PolicyARN(s.partition, s.account, name)
}

// RoleARN is the ARN of a configured role by name ("" if none).
func (s *Service) RoleARN(name string) string {
	for _, r := range s.roles {
		if r.name == name {
			return r.arn
		}
	}
	return ""
}
