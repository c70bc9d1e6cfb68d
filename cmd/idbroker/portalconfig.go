package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/idbroker/idbroker/broker"
)

// portalConfig is the top-level portal block: the branding of the browser's
// pages. Every key is optional. See broker.Portal.
//
//	portal:
//	  title: Example Corp AWS access       # page header and titles (default idbroker; ≤ 80 characters)
//	  logo_file: /etc/idbroker/logo.svg    # PNG, JPEG or SVG (no script), at most 256 KiB; read at start
//	  help_url: https://wiki.example.com/aws   # the header's Help link (https)
//	  banner: |                            # shown on the sign-in pages (plain text; blank lines part paragraphs)
//	    Authorised use only. Activity is logged.
type portalConfig struct {
	Title    string `yaml:"title"`
	LogoFile string `yaml:"logo_file"`
	HelpURL  string `yaml:"help_url"`
	Banner   string `yaml:"banner"`

	// logo is logo_file as read and checked by validate.
	logo *broker.Logo
}

// maxRoleDescription is IAM's limit on a role's description.
const maxRoleDescription = 1000

// validate reads logo_file and checks the block, each problem naming its
// key.
func (c *portalConfig) validate() []error {
	var errs []error
	c.logo = nil
	if c.LogoFile != "" {
		logo, err := readLogo(c.LogoFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("portal.logo_file: %w", err))
		}
		c.logo = logo
	}
	for _, err := range c.broker().Validate() {
		errs = append(errs, fmt.Errorf("portal.%w", err))
	}
	return errs
}

// readLogo reads and checks a logo file without reading more than the cap.
func readLogo(path string) (*broker.Logo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, broker.MaxLogoBytes+1))
	if err != nil {
		return nil, err
	}
	return broker.ParseLogo(data)
}

// broker is the block as the broker takes it.
func (c *portalConfig) broker() broker.Portal {
	return broker.Portal{Title: c.Title, Logo: c.logo, HelpURL: c.HelpURL, Banner: c.Banner}
}

// checkRoleDescriptions checks roles[].description, which the portal shows:
// printable text of at most IAM's 1000 characters.
func checkRoleDescriptions(roles []roleConfig) []error {
	var errs []error
	for i, r := range roles {
		if n := utf8.RuneCountInString(r.Description); n > maxRoleDescription {
			errs = append(errs, fmt.Errorf("roles[%d].description: %d characters, at most %d", i, n, maxRoleDescription))
		}
		if strings.ContainsFunc(r.Description, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
			errs = append(errs, fmt.Errorf("roles[%d].description: must be printable text", i))
		}
	}
	return errs
}
