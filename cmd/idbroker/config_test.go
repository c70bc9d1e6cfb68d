package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/providers/static"
)

func noEnv(string) (string, bool) { return "", false }

func TestDemoConfigIsValid(t *testing.T) {
	cfg, err := parseConfig(configs.Demo, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := generateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	a, err := assemble(cfg, sec, nil2discard())
	if err != nil {
		t.Fatalf("assemble demo: %v", err)
	}
	for _, r := range a.mapper.RunTests(cfg.Mapping.Tests) {
		if !r.Passed {
			t.Errorf("demo rule test %s failed: %v", r.Name, r.Failures)
		}
	}
}

// TestConfigCheckNamesEveryBrokenKey: all problems at once, each with its
// key path, each once.
func TestConfigCheckNamesEveryBrokenKey(t *testing.T) {
	broken := []byte(`
server:
  listen: "nonsense"
  public_url: "http://idbroker.example.com"
  lisen: 1
account_id: 12345
store: {type: etcd}
providers:
  - name: Demo Users
    type: static
    users:
      - {username: alice, password_hash: "plaintext", groupz: [x]}
  - name: corp
    type: kerberos
roles:
  - name: "bad name!"
    max_session_duration: 30h
    policy_arns: ["arn:aws:iam::123456789012:policy/Missing"]
  - name: Dev
    max_session_duration: soon
sts:
  oidc_providers:
    - {issuer: "http://accounts.example.com", client_ids: []}
secret: ${IDBROKER_TEST_UNSET_VAR}
`)
	_, err := parseConfig(broken, noEnv)
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("broken config: error %T %v", err, err)
	}
	// The account and the roles are the STS's to check: config check
	// reports them with the file's problems.
	t.Setenv("IDBROKER_TEST_UNSET_VAR", "")
	os.Unsetenv("IDBROKER_TEST_UNSET_VAR")
	_, _, msg := runCheck(t, string(broken))
	for _, want := range []string{
		"server.listen",
		"server.public_url",
		"server.lisen: unknown key",
		"account_id",
		"store.type",
		"providers[0].name",
		"providers[0].users[0].password_hash",
		"providers[0].users[0].groupz: unknown key",
		"providers[1].type",
		"roles[0].name",
		"roles[0].max_session_duration",
		"roles[0].policy_arns[0]",
		"invalid duration \"soon\"",
		"sts.oidc_providers[0].issuer",
		"sts.oidc_providers[0].client_ids",
		"secret: environment variable IDBROKER_TEST_UNSET_VAR is not set",
		"secret: unknown key",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("config check does not mention %q:\n%s", want, msg)
		}
	}
}

func TestEnvExpansionCannotChangeStructure(t *testing.T) {
	cfg, err := parseConfig([]byte(`
account_id: "123456789012"
providers:
  - name: demo
    type: static
    users:
      - {username: "${U}", password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G"}
`), func(k string) (string, bool) {
		if k == "U" {
			return "x\n  groups: [admins]", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.Providers[0].Settings.(*static.Config).Users[0]
	if u.Username != "x\n  groups: [admins]" || len(u.Groups) != 0 {
		t.Fatalf("expansion changed the structure: %+v", u)
	}
}

func TestListenOverrideMovesPublicURL(t *testing.T) {
	cfg, err := loadServeConfig("", "127.0.0.1:9999")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.publicURL(); got != "http://127.0.0.1:9999" {
		t.Fatalf("public URL %q", got)
	}
}

// TestTypeErrorsNameTheKey: yaml's own type errors are reported by key path.
func TestTypeErrorsNameTheKey(t *testing.T) {
	_, err := parseConfig([]byte(`
account_id: "123456789012"
server:
  pprof: maybe
providers:
  - name: corp
    type: oidc
    issuer: https://idp.example.com
    client_id: x
    client_secret: y
    timeout: soon
`), noEnv)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"server.pprof: cannot unmarshal", "providers[0].timeout: cannot unmarshal"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not in:\n%v", want, err)
		}
	}
}
