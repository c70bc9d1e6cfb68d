// Package mapping turns a providers.Identity into the AWS roles the broker
// offers that user.
//
// Rules come from configuration (Config), are compiled once against the known
// roles (Compile) and are then evaluated per login (Mapper.Map). Evaluation is
// pure: no I/O, no logging, no clock. Every decision carries a trace of every
// rule, with the reason it matched or did not, so that an administrator can
// ask "why" (Mapper.Explain) and write tests inside the configuration
// (Mapper.RunTests).
//
// A configuration looks like:
//
//	rules:
//	  - name: admins
//	    priority: 10
//	    when:
//	      provider: corp
//	      groups_any: ["cn=*-admins,ou=groups,dc=example,dc=org"]
//	      groups_none: [contractors]
//	      attributes: {employeeType: {not: {equals: contractor}}}
//	    roles: [Admin]
//	    duration: 1h
//	    session_tags: {department: '{{ index .Attributes "department" }}'}
//	    transitive_tag_keys: [department]
//	on_ambiguous: choose
package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/internal/yamltypes"
	"github.com/idbroker/idbroker/providers"
)

// Config is the mapping part of the broker configuration. Its fields are the
// top-level keys rules, on_ambiguous, on_ambiguous_by_provider, default_rule,
// case_sensitive_groups and tests.
type Config struct {
	// Rules are evaluated in order of Priority (higher first), then in the
	// order written. The first rule that matches ends evaluation unless it
	// says continue: true.
	Rules []Rule `yaml:"rules"`
	// OnAmbiguous says what happens when several grants result: "choose"
	// (the default; the user picks one), "deny", or "first" (the first
	// grant in evaluation order is issued).
	OnAmbiguous string `yaml:"on_ambiguous"`
	// OnAmbiguousByProvider overrides OnAmbiguous for logins through the
	// named provider.
	OnAmbiguousByProvider map[string]string `yaml:"on_ambiguous_by_provider"`
	// DefaultRule applies when no rule matched. Its when must be empty.
	// Without it, no match means deny.
	DefaultRule *Rule `yaml:"default_rule"`
	// CaseSensitiveGroups turns off case folding of group names and DN
	// attribute values. DN attribute types are always compared
	// case-insensitively.
	CaseSensitiveGroups bool `yaml:"case_sensitive_groups"`
	// Tests are identities with the decision the rules must produce for
	// them; see Mapper.RunTests.
	Tests []Test `yaml:"tests"`
}

// ParseConfig decodes a YAML document holding the mapping keys only
// (rules, on_ambiguous, …), refusing unknown keys. The broker's own
// configuration embeds Config instead.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("mapping: decode: %w", err)
	}
	return cfg, nil
}

// Check compiles cfg and runs its tests: what "config check" needs. The
// error is a compile error; failing tests are in the results.
func Check(cfg Config, env Env) (*Mapper, []TestResult, error) {
	m, err := Compile(cfg, env)
	if err != nil {
		return nil, nil, err
	}
	return m, m.RunTests(cfg.Tests), nil
}

// Rule maps identities that satisfy When to Roles.
type Rule struct {
	// Name identifies the rule in traces, grants and errors. Required.
	Name string `yaml:"name"`
	// Priority orders rules: higher first; equal priorities keep the written order.
	Priority int `yaml:"priority"`
	// When lists the conditions; all must hold. An empty When matches everyone.
	When When `yaml:"when"`
	// Roles are role names known to the broker or role ARNs.
	Roles []string `yaml:"roles"`
	// Continue lets evaluation go on after this rule matched.
	Continue bool `yaml:"continue"`
	// SessionName is a template for the RoleSessionName; default the username.
	// The result is reduced to [\w+=,.@-] and cut to 64 characters.
	SessionName string `yaml:"session_name"`
	// SessionTags maps tag keys to value templates (see TemplateData).
	// Templates are parsed at load; at login a template that fails, or a
	// value outside the AWS limits, drops the rule's grants with the reason
	// in the trace. {{ .Attributes.x }} fails when x is absent;
	// {{ index .Attributes "x" }} renders "".
	SessionTags map[string]string `yaml:"session_tags"`
	// TransitiveTagKeys must be keys of SessionTags.
	TransitiveTagKeys []string `yaml:"transitive_tag_keys"`
	// Duration caps the credential lifetime (at least 15m, at most 12h),
	// written as a Go duration or whole seconds.
	Duration yamltypes.DurationOrSeconds `yaml:"duration"`
	// SourceIdentity is a template for the SourceIdentity of the session.
	SourceIdentity string `yaml:"source_identity"`
}

// When holds the conditions of a rule. Every condition given must hold.
type When struct {
	// Provider is one provider name or a list; the login's provider must be one of them.
	Provider yamltypes.StringList `yaml:"provider"`
	// Group patterns are a plain name or an LDAP DN (RFC 4514, as
	// internal/ldapdn reads one), either possibly with the wildcards * and ?
	// (\* and \? are the characters themselves). Names match names and DNs
	// match DNs: "admins" does not match "cn=admins,ou=groups". A DN is
	// compared by its decoded attribute values, so spacing and escaping do
	// not matter and attribute types compare without regard to case; names
	// and values are case-folded (casefold.Unicode) unless
	// case_sensitive_groups is set. In a DN pattern a wildcard stays inside
	// one attribute value, so "cn=*-admins,ou=groups,dc=x" matches
	// "CN=Web-Admins, OU=Groups, DC=x" but not "cn=u,ou=web-admins,ou=groups,dc=x".
	//
	// GroupsAny: at least one of the user's groups matches one of the patterns.
	GroupsAny []string `yaml:"groups_any"`
	// GroupsAll: every pattern is matched by at least one of the user's groups.
	GroupsAll []string `yaml:"groups_all"`
	// GroupsNone: no group of the user matches any of the patterns.
	GroupsNone []string `yaml:"groups_none"`
	// Claims and Attributes (two names for the same thing) test
	// Identity.Attributes by exact key.
	Claims     map[string]Matcher `yaml:"claims"`
	Attributes map[string]Matcher `yaml:"attributes"`
	// EmailDomain is one domain or a list (globs allowed, e.g. "*.example.org").
	// It only ever matches a verified email.
	EmailDomain yamltypes.StringList `yaml:"email_domain"`
	// MFA, when set, must equal Identity.MFA (mfa: true requires MFA;
	// mfa: false matches only logins without it).
	MFA *bool `yaml:"mfa"`
}

// Matcher tests the values of one attribute. All operators given must hold.
// Equals, In, Glob and Regex hold when at least one value satisfies them.
type Matcher struct {
	// Equals is an exact, case-sensitive value.
	Equals *string `yaml:"equals"`
	// In is a list of exact values.
	In []string `yaml:"in"`
	// Glob is a pattern with * and ? (\ escapes them).
	Glob *string `yaml:"glob"`
	// Regex is an RE2 expression, anchored at both ends.
	Regex *string `yaml:"regex"`
	// Exists: true needs at least one value, false needs none.
	Exists *bool `yaml:"exists"`
	// Not negates a whole matcher. Note that not: {equals: x} also holds
	// when the attribute is absent; add exists: true to require it.
	Not *Matcher `yaml:"not"`
}

// Test is one rule test inside the configuration: an identity and what the
// rules must decide for it.
type Test struct {
	Name     string       `yaml:"name"`
	Identity TestIdentity `yaml:"identity"`
	Expect   Expect       `yaml:"expect"`
}

// TestIdentity is providers.Identity with YAML keys equal to its JSON names.
type TestIdentity struct {
	Provider      string                          `yaml:"provider"`
	Subject       string                          `yaml:"subject"`
	Username      string                          `yaml:"username"`
	Email         string                          `yaml:"email"`
	EmailVerified bool                            `yaml:"email_verified"`
	DisplayName   string                          `yaml:"display_name"`
	Groups        []string                        `yaml:"groups"`
	Attributes    map[string]yamltypes.StringList `yaml:"attributes"`
	MFA           bool                            `yaml:"mfa"`
	AuthTime      time.Time                       `yaml:"auth_time"`
	Expiry        time.Time                       `yaml:"expiry"`
}

// Identity converts the test identity into a providers.Identity.
func (t TestIdentity) Identity() providers.Identity {
	id := providers.Identity{
		Provider: t.Provider, Subject: t.Subject, Username: t.Username,
		Email: t.Email, EmailVerified: t.EmailVerified, DisplayName: t.DisplayName,
		Groups: t.Groups, MFA: t.MFA, AuthTime: t.AuthTime, Expiry: t.Expiry,
	}
	if t.Attributes != nil {
		id.Attributes = make(map[string][]string, len(t.Attributes))
		for k, v := range t.Attributes {
			id.Attributes[k] = []string(v)
		}
	}
	return id
}

// Expect is what a Test requires. Decision is required; the other fields are
// checked only when given.
type Expect struct {
	// Decision is grant, choose or deny.
	Decision string `yaml:"decision"`
	// Roles are the roles of the grants (names or ARNs), in any order.
	Roles []string `yaml:"roles"`
	// Rules are the names of the rules that must have matched, in any order.
	Rules []string `yaml:"rules"`
	// SessionTags must equal the tags of every grant.
	SessionTags map[string]string `yaml:"session_tags"`
	// MaxDuration: every grant must last at most this long.
	MaxDuration yamltypes.DurationOrSeconds `yaml:"max_duration"`
	// SessionName must equal the session name of every grant.
	SessionName string `yaml:"session_name"`
}
