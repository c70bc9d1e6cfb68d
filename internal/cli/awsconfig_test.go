package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ini/ini"
)

// A config file as people keep them: comments, odd spacing, nested
// values, an inline comment, sections of every kind.
const existingConfig = `# my AWS config
[default]
region=eu-west-1
output = json

; work account
[profile work]
role_arn = arn:aws:iam::111111111111:role/x   # inline
source_profile=default
s3 =
  max_concurrent_requests = 20
  addressing_style = path

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
`

func ours(name, role string) ConfigProfile {
	return ConfigProfile{Name: name, Values: []ConfigValue{
		{Key: "credential_process", Value: "/usr/bin/idbroker credential-process --profile " + name},
		{Key: "region", Value: "us-east-1", IfMissing: true},
		{Key: MarkerKey, Value: "https://idbroker.example.com"},
		{Key: RoleKey, Value: role},
	}}
}

func TestEditConfig(t *testing.T) {
	dev := ours("Developer", "arn:aws:iam::123456789012:role/Developer")
	added := "\n[profile Developer]\ncredential_process = /usr/bin/idbroker credential-process --profile Developer\nregion = us-east-1\n" +
		"idbroker_url = https://idbroker.example.com\nidbroker_role = arn:aws:iam::123456789012:role/Developer\n"
	for _, tc := range []struct {
		name, src, want string
		profiles        []ConfigProfile
		err             bool
	}{
		{name: "empty file", src: "", profiles: []ConfigProfile{dev}, want: strings.TrimPrefix(added, "\n")},
		{name: "appended, the rest byte for byte", src: existingConfig, profiles: []ConfigProfile{dev}, want: existingConfig + added},
		{name: "no final newline", src: "[default]\nregion=x", profiles: []ConfigProfile{dev}, want: "[default]\nregion=x\n" + added},
		{name: "ends with a blank line", src: "[default]\n\n", profiles: []ConfigProfile{dev}, want: "[default]\n" + added},
		{name: "CRLF kept", src: "[default]\r\nregion=x\r\n", profiles: []ConfigProfile{dev},
			want: "[default]\r\nregion=x\r\n" + strings.ReplaceAll(added, "\n", "\r\n")},
		{
			name: "own profile updated in place, the person's lines kept, region kept",
			src: "# top\n[profile Developer]\n# mine\ncredential_process = /old/idbroker credential-process --profile Developer\n" +
				"region = eu-central-1\noutput=text\nidbroker_url = https://old.example.com\n\n; next\n[profile work]\nregion=x\n",
			profiles: []ConfigProfile{dev},
			want: "# top\n[profile Developer]\n# mine\ncredential_process = /usr/bin/idbroker credential-process --profile Developer\n" +
				"region = eu-central-1\noutput=text\nidbroker_url = https://idbroker.example.com\n" +
				"idbroker_role = arn:aws:iam::123456789012:role/Developer\n\n; next\n[profile work]\nregion=x\n",
		},
		{
			name:     "own profile: nested lines under a replaced key go with it; keys compare case-insensitively",
			src:      "[profile Developer]\nIDBROKER_URL = x\nCredential_Process =\n  nested = 1\nregion=r\n",
			profiles: []ConfigProfile{dev},
			want: "[profile Developer]\nidbroker_url = https://idbroker.example.com\ncredential_process = /usr/bin/idbroker credential-process --profile Developer\nregion=r\n" +
				"idbroker_role = arn:aws:iam::123456789012:role/Developer\n",
		},
		{name: "a profile of the person is refused", src: existingConfig, profiles: []ConfigProfile{ours("work", "r")}, err: true},
		{name: "default is [default]", src: existingConfig, profiles: []ConfigProfile{ours("default", "r")}, err: true},
		{name: "spaces in the header", src: "[  profile   Developer ]\nregion=x\n", profiles: []ConfigProfile{dev}, err: true},
		{name: "a value across lines is refused", src: "", profiles: []ConfigProfile{{Name: "x", Values: []ConfigValue{{Key: "k", Value: "a\n[profile evil]"}}}}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EditConfig([]byte(tc.src), tc.profiles)
			if tc.err {
				var fe *ForeignProfileError
				if err == nil || (tc.profiles[0].Name != "x" && !errors.As(err, &fe)) {
					t.Fatalf("err %v, want a refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
			// Writing the same profiles again changes nothing.
			again, err := EditConfig(got, tc.profiles)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("second edit changed the file: %v\n%q", err, again)
			}
		})
	}
}

func TestOwnProfiles(t *testing.T) {
	src, err := EditConfig([]byte(existingConfig), []ConfigProfile{ours("Developer", "a"), ours("Admin", "b")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(OwnProfiles(src), ","); got != "Developer,Admin" {
		t.Errorf("own profiles %q", got)
	}
}

// TestUpdateConfigFile: a new file (and directory) is private; an existing
// file keeps its permissions; a symbolic link is followed, not replaced; a
// refusal leaves the file as it was.
func TestUpdateConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "aws", "config")
	if err := UpdateConfigFile(path, []ConfigProfile{ours("Developer", "a")}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v", fi.Mode())
	}
	if fi, _ := os.Stat(filepath.Dir(path)); fi.Mode().Perm() != 0o700 {
		t.Errorf("new directory mode %v", fi.Mode())
	}

	real := filepath.Join(dir, "dotfiles-config")
	if err := os.WriteFile(real, []byte(existingConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config-link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := UpdateConfigFile(link, []ConfigProfile{ours("Developer", "a")}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	got, _ := os.ReadFile(real)
	if !bytes.HasPrefix(got, []byte(existingConfig)) || !bytes.Contains(got, []byte("[profile Developer]")) {
		t.Errorf("target not updated:\n%s", got)
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode changed to %v", fi.Mode())
	}
	before, _ := os.ReadFile(real)
	err := UpdateConfigFile(real, []ConfigProfile{ours("Admin", "b"), ours("work", "c")})
	var fe *ForeignProfileError
	if !errors.As(err, &fe) || fe.Path != real || !strings.Contains(err.Error(), `profile "work"`) {
		t.Fatalf("err %v", err)
	}
	if after, _ := os.ReadFile(real); !bytes.Equal(before, after) {
		t.Error("a refused edit changed the file")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// TestINILibraryRewritesTheFile is why the config file is edited as lines:
// go-ini (the INI library in this module's graph) loads and saves the
// file above with the spacing, inline comment and nested value changed,
// the last into a Python """ string that botocore would take as text.
func TestINILibraryRewritesTheFile(t *testing.T) {
	f, err := ini.LoadSources(ini.LoadOptions{AllowPythonMultilineValues: true, SpaceBeforeInlineComment: true}, []byte(existingConfig))
	if err != nil {
		t.Fatal(err)
	}
	f.Section("profile Developer").Key("region").SetValue("us-east-1")
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(b.Bytes(), []byte(existingConfig)) {
		t.Fatal("go-ini kept the file: it could be used instead of the line editor")
	}
	for _, changed := range []string{"region = eu-west-1", `"""`} {
		if !strings.Contains(b.String(), changed) {
			t.Errorf("go-ini output lacks %q:\n%s", changed, b.String())
		}
	}
}

func TestProfileNames(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::123456789012:role/Developer":        "Developer",
		"arn:aws:iam::123456789012:role/team/a/Dev+Ops=1": "Dev+Ops=1",
		"arn:aws:iam::123456789012:role/_x,y@z":           "_x,y@z",
		"arn:aws:iam::123456789012:role/-.x":              "x",
		"arn:aws:iam::123456789012:role/..":               "idbroker",
		"Dev Ops":                                         "Dev-Ops",
	} {
		if got := ProfileNameForRole(arn); got != want || CheckProfileName(got) != nil {
			t.Errorf("%s: %q (%v), want %q", arn, got, CheckProfileName(got), want)
		}
	}
	for _, bad := range []string{"", "-x", "a/b", "../x", ".x", "a b", strings.Repeat("a", 65), "a\n", "a'b", "a$b", "a;b"} {
		if CheckProfileName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
