package broker

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/idbroker/idbroker/internal/loopback"
)

// Portal brands the browser's pages (the portal block of the
// configuration). The zero value is the plain idbroker look.
type Portal struct {
	// Title names the portal in every page's header and title (default
	// DefaultPortalTitle).
	Title string
	// Logo is shown beside the title, served by the broker itself (nil:
	// none). Build it with ParseLogo.
	Logo *Logo
	// HelpURL is where the header's "Help" link goes ("": no link); https,
	// or http on a loopback host.
	HelpURL string
	// Banner is a notice shown on the sign-in pages (acceptable use, say).
	// Plain text; blank lines separate paragraphs.
	Banner string
}

// Logo is an image the broker serves at a content-addressed URL.
type Logo struct {
	Data []byte
	// ContentType is image/png, image/jpeg or image/svg+xml.
	ContentType string
}

// Bounds of the portal block.
const (
	DefaultPortalTitle = "idbroker"
	MaxPortalTitle     = 80
	MaxPortalBanner    = 4000
	MaxHelpURL         = 2000
	// MaxLogoBytes bounds the logo file: it is held in memory and sent
	// with every page's first visit.
	MaxLogoBytes = 256 << 10
)

// Validate reports what is wrong with p, each problem naming the key of the
// portal block.
func (p Portal) Validate() []error {
	var errs []error
	if n := utf8.RuneCountInString(p.Title); n > MaxPortalTitle {
		errs = append(errs, fmt.Errorf("title: %d characters, at most %d", n, MaxPortalTitle))
	}
	if strings.ContainsFunc(p.Title, unicode.IsControl) {
		errs = append(errs, errors.New("title: must be one line of printable text"))
	}
	if n := utf8.RuneCountInString(p.Banner); n > MaxPortalBanner {
		errs = append(errs, fmt.Errorf("banner: %d characters, at most %d", n, MaxPortalBanner))
	}
	if strings.ContainsFunc(p.Banner, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		errs = append(errs, errors.New("banner: must be printable text (line breaks allowed)"))
	}
	if p.HelpURL != "" {
		if err := checkHelpURL(p.HelpURL); err != nil {
			errs = append(errs, fmt.Errorf("help_url: %w", err))
		}
	}
	if p.Logo != nil {
		if _, err := ParseLogo(p.Logo.Data); err != nil {
			errs = append(errs, fmt.Errorf("logo_file: %w", err))
		}
	}
	return errs
}

func checkHelpURL(s string) error {
	if len(s) > MaxHelpURL {
		return fmt.Errorf("longer than %d bytes", MaxHelpURL)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL without user info", s)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q must use https:// (plain http only on loopback addresses)", s)
}

// title is the portal's title with its default.
func (p Portal) title() string {
	if p.Title == "" {
		return DefaultPortalTitle
	}
	return p.Title
}

// bannerParagraphs splits the banner at blank lines.
func (p Portal) bannerParagraphs() []string {
	var out []string
	for _, para := range strings.Split(strings.ReplaceAll(p.Banner, "\r\n", "\n"), "\n\n") {
		if para = strings.TrimSpace(para); para != "" {
			out = append(out, para)
		}
	}
	return out
}

// ParseLogo checks that data is a PNG, JPEG or SVG image of at most
// MaxLogoBytes and returns it with its content type. An SVG must be
// well-formed XML whose root is <svg>, and may hold no script, event
// handler, foreignObject or external reference; the broker also serves it
// under a sandboxing content security policy.
func ParseLogo(data []byte) (*Logo, error) {
	switch {
	case len(data) == 0:
		return nil, errors.New("the file is empty")
	case len(data) > MaxLogoBytes:
		return nil, fmt.Errorf("the file has %d bytes, at most %d", len(data), MaxLogoBytes)
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return &Logo{Data: data, ContentType: "image/png"}, nil
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		return &Logo{Data: data, ContentType: "image/jpeg"}, nil
	}
	if err := checkSVG(data); err != nil {
		return nil, err
	}
	return &Logo{Data: data, ContentType: "image/svg+xml"}, nil
}

// checkSVG accepts a static SVG document.
func checkSVG(data []byte) error {
	const notImage = "not a PNG, JPEG or SVG image"
	if !utf8.Valid(data) {
		return errors.New(notImage)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	root := true
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if root {
				return errors.New(notImage)
			}
			return nil
		}
		if err != nil {
			if root {
				return errors.New(notImage)
			}
			return fmt.Errorf("the SVG is not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			// A DOCTYPE may declare entities; a logo needs none.
			return errors.New("the SVG may not have a DOCTYPE or other directive")
		case xml.StartElement:
			if root {
				if t.Name.Local != "svg" {
					return errors.New(notImage)
				}
				root = false
			}
			switch strings.ToLower(t.Name.Local) {
			case "script", "foreignobject", "iframe", "embed", "object", "handler", "listener":
				return fmt.Errorf("the SVG may not hold a <%s> element", t.Name.Local)
			}
			for _, a := range t.Attr {
				name := strings.ToLower(a.Name.Local)
				val := strings.ToLower(strings.TrimSpace(a.Value))
				switch {
				case strings.HasPrefix(name, "on"):
					return fmt.Errorf("the SVG may not have event handlers (%s)", a.Name.Local)
				case name == "href" && !strings.HasPrefix(val, "#") && !strings.HasPrefix(val, "data:image/"):
					return errors.New("the SVG may not refer to other documents (href)")
				}
			}
		}
	}
}
