package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/configs"
)

const testLogoSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#f0b429"/></svg>`

// TestPortalBlock: the portal block is read into the broker's branding
// (the logo file read at start and checked), and every bad key is named.
func TestPortalBlock(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("logo.svg", []byte(testLogoSVG))
	scripted := write("evil.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	huge := write("huge.png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 300<<10)...))
	text := write("notes.txt", []byte("not an image"))

	t.Run("valid", func(t *testing.T) {
		cfg, err := parseConfig(withPortal(`
portal:
  title: Example Corp AWS access
  logo_file: `+good+`
  help_url: https://wiki.example.com/aws
  banner: |
    Authorised use only.

    Activity is logged.
`), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		p := cfg.Portal.broker()
		if p.Title != "Example Corp AWS access" || p.Logo == nil || p.Logo.ContentType != "image/svg+xml" || p.HelpURL != "https://wiki.example.com/aws" || !strings.Contains(p.Banner, "Activity is logged.") {
			t.Fatalf("portal %+v", p)
		}
	})
	for _, tc := range []struct {
		name, block, want string
	}{
		{"missing logo", "portal: {logo_file: " + filepath.Join(dir, "nope.png") + "}", "portal.logo_file: open"},
		{"scripted SVG", "portal: {logo_file: " + scripted + "}", "portal.logo_file: the SVG may not hold a <script> element"},
		{"logo too large", "portal: {logo_file: " + huge + "}", "portal.logo_file: the file has 262145 bytes, at most 262144"},
		{"not an image", "portal: {logo_file: " + text + "}", "portal.logo_file: not a PNG, JPEG or SVG image"},
		{"plain http help", "portal: {help_url: http://wiki.example.com/aws}", "portal.help_url: \"http://wiki.example.com/aws\" must use https://"},
		{"javascript help", "portal: {help_url: \"javascript:alert(1)\"}", "portal.help_url:"},
		{"long title", "portal: {title: " + strings.Repeat("x", 81) + "}", "portal.title: 81 characters, at most 80"},
		{"unknown key", "portal: {colour: red}", "portal.colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(withPortal(tc.block), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("role description too long", func(t *testing.T) {
		src := strings.Replace(string(configs.Demo), "description: Read access to the demo buckets.", "description: "+strings.Repeat("d", 1001), 1)
		_, err := parseConfig([]byte(src), noEnv)
		if err == nil || !strings.Contains(err.Error(), "roles[0].description: 1001 characters, at most 1000") {
			t.Fatalf("error %v", err)
		}
	})
}

// withPortal is the demo configuration with a portal block appended.
func withPortal(block string) []byte {
	return append(append([]byte{}, configs.Demo...), "\n"+block+"\n"...)
}
