package mapping

import (
	"testing"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// TestGrantDescription: a grant carries its role's description from the
// environment (roles[].description), whichever rule grants it, and a role
// without one gives an empty description.
func TestGrantDescription(t *testing.T) {
	env := testEnv()
	env.Roles["Developer"] = RoleInfo{MaxDuration: 2 * time.Hour, Description: "Read the demo buckets."}
	m, err := Compile(loadConfig(t, `
rules:
  - name: devs
    when: {groups_any: [dev]}
    roles: [Developer, ReadOnly]
`), env)
	if err != nil {
		t.Fatal(err)
	}
	dec := m.Map(providers.Identity{Provider: "corp", Username: "olga", Groups: []string{"dev"}})
	want := map[string]string{arn("Developer"): "Read the demo buckets.", arn("ReadOnly"): ""}
	if len(dec.Grants) != len(want) {
		t.Fatalf("grants %v", grantARNs(dec))
	}
	for _, g := range dec.Grants {
		if g.Description != want[g.RoleARN] {
			t.Errorf("%s: description %q, want %q", g.RoleARN, g.Description, want[g.RoleARN])
		}
	}
}
