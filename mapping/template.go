package mapping

import (
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/idbroker/idbroker/providers"
)

// maxRendered bounds the output of one template; longer output is an error.
const maxRendered = 4096

// TemplateData is what session_name, session_tags and source_identity
// templates see, e.g. {{ .Username }}, {{ .Email }},
// {{ index .Attributes "department" }} or {{ .Group }}.
type TemplateData struct {
	Provider    string
	Subject     string
	Username    string
	DisplayName string
	// Email is the email address if the upstream verified it, else "".
	Email string
	MFA   bool
	// Groups are the user's groups as the provider gave them.
	Groups []string
	// Attributes holds the first value of each attribute;
	// AttributeValues all of them.
	Attributes      map[string]string
	AttributeValues map[string][]string
	// Group is the group that satisfied the rule's groups_any (or, without
	// groups_any, the first pattern of groups_all), as the provider gave it;
	// GroupName is its first RDN value for a DN ("web-admins" for
	// "cn=web-admins,ou=groups"), else the name itself.
	Group     string
	GroupName string
	// Rule is the name of the rule being applied.
	Rule string
}

// templateFuncs are pure string helpers; none does I/O.
var templateFuncs = template.FuncMap{
	"lower":      strings.ToLower,
	"upper":      strings.ToUpper,
	"trimSpace":  strings.TrimSpace,
	"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
	"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
	"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	"join":       func(sep string, ss []string) string { return strings.Join(ss, sep) },
	"default": func(def string, s string) string {
		if s == "" {
			return def
		}
		return s
	},
}

// parseTemplate parses a template at load time. Missing map keys in field
// syntax (.Attributes.x) are errors at execution; index returns "".
func parseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return t, nil
}

var errTooLong = errors.New("output too long")

type limitedBuilder struct {
	strings.Builder
}

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errTooLong
	}
	return b.Builder.Write(p)
}

// render executes t; a panic inside a template function is reported as an error.
func render(t *template.Template, data *TemplateData) (s string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template %s panicked: %v", t.Name(), r)
		}
	}()
	var b limitedBuilder
	if err := t.Execute(&b, data); err != nil {
		if errors.Is(err, errTooLong) {
			return "", fmt.Errorf("template %s: output longer than %d bytes", t.Name(), maxRendered)
		}
		return "", fmt.Errorf("template %s: %w", t.Name(), err)
	}
	return b.String(), nil
}

func newTemplateData(id *providers.Identity, matched *group, ruleName string) *TemplateData {
	d := &TemplateData{
		Provider: id.Provider, Subject: id.Subject, Username: id.Username,
		DisplayName: id.DisplayName, MFA: id.MFA, Groups: id.Groups,
		Attributes:      make(map[string]string, len(id.Attributes)),
		AttributeValues: id.Attributes,
		Rule:            ruleName,
	}
	if d.AttributeValues == nil {
		d.AttributeValues = map[string][]string{}
	}
	if id.EmailVerified {
		d.Email = id.Email
	}
	for k, v := range id.Attributes {
		if len(v) > 0 {
			d.Attributes[k] = v[0]
		} else {
			d.Attributes[k] = ""
		}
	}
	if matched != nil {
		d.Group, d.GroupName = matched.orig, matched.first
	}
	return d
}
