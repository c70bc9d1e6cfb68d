package policy

import (
	"errors"
	"strings"
	"testing"
)

// ctxOf builds a Context from a map; a nil slice value sets a key with no values.
func ctxOf(m map[string][]string) *Context {
	c := NewContext()
	for k, v := range m {
		c.Set(k, v...)
	}
	return c
}

func mustParse(t testing.TB, doc string, kind Kind) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc), kind)
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

func mustParseNamed(t testing.TB, name, doc string, kind Kind) *Policy {
	t.Helper()
	p := mustParse(t, doc, kind)
	p.SetName(name)
	return p
}

func asMalformed(t testing.TB, err error) *MalformedError {
	t.Helper()
	var me *MalformedError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not a *MalformedError", err, err)
	}
	return me
}

// condDoc wraps a Condition block in an Allow-everything identity policy.
func condDoc(version, cond string) string {
	v := ""
	if version != "" {
		v = `"Version":"` + version + `",`
	}
	return `{` + v + `"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":` + cond + `}}`
}

func sids(ms []Match) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Policy+"/"+m.Sid+"/"+m.Effect)
	}
	return strings.Join(s, ",")
}
