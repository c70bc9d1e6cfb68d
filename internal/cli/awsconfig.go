package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The AWS config file (~/.aws/config) is INI as botocore reads it: section
// headers, "key = value" lines, comments starting with # or ;, and nested
// values on indented lines under a key (s3 =, then "  addressing_style =
// path"). login writes its profiles into it and must keep everything else
// byte for byte. The INI libraries at hand rewrite the whole file on save:
// github.com/go-ini/ini (the one in this module's graph) re-spaces every
// key ("region=x" becomes "region = x"), aligns keys, moves inline
// comments to their own lines and turns nested values into Python """
// strings that botocore would read as text (awsconfig_test.go shows it).
// So the file is edited here as lines: only the lines of idbroker's own
// profiles are touched, and new profiles are appended.

// MarkerKey marks a profile as written by idbroker: login changes only
// profiles that have it.
const MarkerKey = "idbroker_url"

// RoleKey names the profile's role (for a person reading the file).
const RoleKey = "idbroker_role"

// ConfigFilePath is $AWS_CONFIG_FILE, else ~/.aws/config.
func ConfigFilePath() (string, error) {
	if p := os.Getenv("AWS_CONFIG_FILE"); p != "" {
		if strings.HasPrefix(p, "~/") {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			p = filepath.Join(home, p[2:])
		}
		return filepath.Abs(p)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no AWS config file: set AWS_CONFIG_FILE or HOME: %w", err)
	}
	return filepath.Join(home, ".aws", "config"), nil
}

// profileName is the alphabet of IAM role names ([\w+=,.@-], 64 at most),
// not starting with "." or "-" (profile names are also file names in the
// cache, and arguments on the credential_process line).
var profileName = regexp.MustCompile(`^[A-Za-z0-9_+=,@][A-Za-z0-9_+=,.@-]{0,63}$`)

// CheckProfileName accepts the profile names idbroker writes: up to 64
// letters, digits and _+=,.@- (a role name's alphabet), not starting with
// "." or "-".
func CheckProfileName(name string) error {
	if !profileName.MatchString(name) {
		return fmt.Errorf("profile name %q: use 1 to 64 letters, digits and _+=,.@- not starting with . or -", name)
	}
	return nil
}

// ProfileNameForRole is the default profile name of a role ARN: the
// role's name (the last part of its path), with characters a profile name
// cannot have replaced by "-".
func ProfileNameForRole(roleARN string) string {
	name := roleARN
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	b := []byte(name)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0
		if !ok {
			b[i] = '-'
		}
	}
	name = strings.TrimLeft(string(b), ".-")
	if len(name) > 64 {
		name = name[:64]
	}
	if name == "" {
		name = "idbroker"
	}
	return name
}

// ConfigValue is one key of a profile login writes.
type ConfigValue struct {
	Key, Value string
	// IfMissing: written only when the profile does not have the key
	// (a region the person changed is kept).
	IfMissing bool
}

// ConfigProfile is a profile login writes: [profile Name] (or [default])
// with its values, MarkerKey among them.
type ConfigProfile struct {
	Name   string
	Values []ConfigValue
}

// ForeignProfileError is a profile of the same name that idbroker did not
// write.
type ForeignProfileError struct{ Name, Path string }

func (e *ForeignProfileError) Error() string {
	return fmt.Sprintf("%s already has a profile %q that idbroker did not write: name another with --profile (the file was not changed)", e.Path, e.Name)
}

// UpdateConfigFile writes profiles into the AWS config file at path
// (EditConfig), atomically, keeping the file's permissions (0600 for a
// new file, in a new 0700 directory). A path that is a symbolic link is
// followed and its target is written.
func UpdateConfigFile(path string, profiles []ConfigProfile) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("AWS config file: %w", err)
	}
	src, err := os.ReadFile(path)
	perm := fs.FileMode(0o600)
	switch {
	case err == nil:
		if fi, err := os.Stat(path); err == nil {
			perm = fi.Mode().Perm()
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("AWS config file: %w", err)
		}
	default:
		return fmt.Errorf("AWS config file: %w", err)
	}
	out, err := EditConfig(src, profiles)
	if err != nil {
		var fe *ForeignProfileError
		if errors.As(err, &fe) {
			fe.Path = path
		}
		return err
	}
	if bytes.Equal(out, src) {
		return nil
	}
	if err := WriteFileAtomic(path, out, perm); err != nil {
		return fmt.Errorf("AWS config file: %w", err)
	}
	return nil
}

// line is one line of the file with its line ending.
type line struct{ text, eol string }

// section is a section of the file: its header line index and the index
// after its last line.
type section struct {
	name       string
	start, end int
}

// EditConfig returns src with profiles written: a profile that exists and
// carries MarkerKey has its keys replaced in place (the other lines of it
// stay) and missing keys added after its last value; a profile that does
// not exist is appended; a profile of the same name without MarkerKey is
// a *ForeignProfileError and nothing is changed. Every other byte of src
// is kept.
func EditConfig(src []byte, profiles []ConfigProfile) ([]byte, error) {
	lines := splitLines(string(src))
	eol := "\n"
	if strings.Contains(string(src), "\r\n") {
		eol = "\r\n"
	}
	for _, p := range profiles {
		for _, v := range p.Values {
			if strings.ContainsAny(v.Key+v.Value, "\r\n") || strings.TrimSpace(v.Key) == "" {
				return nil, fmt.Errorf("profile %s: a value cannot span lines", p.Name)
			}
		}
		secs := sections(lines)
		idx := findProfile(secs, p.Name)
		if idx < 0 {
			lines = appendProfile(lines, p, eol)
			continue
		}
		s := secs[idx]
		if keyLine(lines, s, MarkerKey) < 0 {
			return nil, &ForeignProfileError{Name: p.Name}
		}
		lines = updateProfile(lines, s, p, eol)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteString(l.eol)
	}
	return []byte(b.String()), nil
}

func splitLines(s string) []line {
	var out []line
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, line{text: s})
			break
		}
		text, eol := s[:i], "\n"
		if strings.HasSuffix(text, "\r") {
			text, eol = text[:len(text)-1], "\r\n"
		}
		out = append(out, line{text: text, eol: eol})
		s = s[i+1:]
	}
	return out
}

// header returns the section name of a header line ("profile dev",
// "default"), spaces collapsed.
func header(text string) (string, bool) {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "[") {
		return "", false
	}
	end := strings.LastIndexByte(t, ']')
	if end < 0 {
		return "", false
	}
	return strings.Join(strings.Fields(t[1:end]), " "), true
}

func sections(lines []line) []section {
	var out []section
	for i, l := range lines {
		if name, ok := header(l.text); ok {
			if n := len(out); n > 0 {
				out[n-1].end = i
			}
			out = append(out, section{name: name, start: i, end: len(lines)})
		}
	}
	return out
}

// findProfile is the index of the first section of profile name
// ("[default]" or "[profile default]" for default), or -1.
func findProfile(secs []section, name string) int {
	for i, s := range secs {
		if s.name == "profile "+name || (name == "default" && s.name == "default") {
			return i
		}
	}
	return -1
}

// keyOf is the key of a value line ("" for anything else: a comment, a
// blank line, an indented nested line).
func keyOf(text string) string {
	if text == "" || text[0] == ' ' || text[0] == '\t' {
		return ""
	}
	t := strings.TrimSpace(text)
	if t == "" || t[0] == '#' || t[0] == ';' || t[0] == '[' {
		return ""
	}
	k, _, ok := strings.Cut(t, "=")
	if !ok {
		return ""
	}
	return strings.TrimSpace(k)
}

// continuation reports whether a line continues the value above it (an
// indented, non-blank line).
func continuation(text string) bool {
	return text != "" && (text[0] == ' ' || text[0] == '\t') && strings.TrimSpace(text) != ""
}

// keyLine is the index of key's line in section s (keys compare as
// botocore compares them: case-insensitively), or -1.
func keyLine(lines []line, s section, key string) int {
	for i := s.start + 1; i < s.end; i++ {
		if k := keyOf(lines[i].text); k != "" && strings.EqualFold(k, key) {
			return i
		}
	}
	return -1
}

func updateProfile(lines []line, s section, p ConfigProfile, eol string) []line {
	var missing []line
	for _, v := range p.Values {
		i := keyLine(lines, s, v.Key)
		if i < 0 {
			missing = append(missing, line{text: v.Key + " = " + v.Value, eol: eol})
			continue
		}
		if v.IfMissing {
			continue
		}
		// The value and any nested lines under it become the one line.
		j := i + 1
		for j < s.end && continuation(lines[j].text) {
			j++
		}
		repl := line{text: v.Key + " = " + v.Value, eol: lines[i].eol}
		if repl.eol == "" {
			repl.eol = eol
		}
		lines = append(lines[:i], append([]line{repl}, lines[j:]...)...)
		s.end -= j - i - 1
	}
	if len(missing) == 0 {
		return lines
	}
	// After the section's last value (or its header), before trailing
	// blank lines and comments (which may belong to the next section).
	at := s.start + 1
	for i := s.start + 1; i < s.end; i++ {
		if keyOf(lines[i].text) != "" || continuation(lines[i].text) {
			at = i + 1
		}
	}
	if lines[at-1].eol == "" {
		lines[at-1].eol = eol
	}
	out := append([]line{}, lines[:at]...)
	out = append(out, missing...)
	return append(out, lines[at:]...)
}

func appendProfile(lines []line, p ConfigProfile, eol string) []line {
	if n := len(lines); n > 0 {
		if lines[n-1].eol == "" {
			lines[n-1].eol = eol
		}
		if strings.TrimSpace(lines[n-1].text) != "" {
			lines = append(lines, line{eol: eol})
		}
	}
	head := "[profile " + p.Name + "]"
	if p.Name == "default" {
		head = "[default]"
	}
	lines = append(lines, line{text: head, eol: eol})
	for _, v := range p.Values {
		lines = append(lines, line{text: v.Key + " = " + v.Value, eol: eol})
	}
	return lines
}

// OwnProfiles lists the profiles of the AWS config file src that carry
// MarkerKey, by name.
func OwnProfiles(src []byte) []string {
	lines := splitLines(string(src))
	var out []string
	for _, s := range sections(lines) {
		name, ok := strings.CutPrefix(s.name, "profile ")
		if !ok && s.name == "default" {
			name, ok = "default", true
		}
		if ok && keyLine(lines, s, MarkerKey) >= 0 {
			out = append(out, name)
		}
	}
	return out
}
