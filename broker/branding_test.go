package broker

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestParseLogo: PNG, JPEG and static SVG images are taken; anything else,
// an SVG that could run or fetch something, and a file over the cap are
// refused with the reason.
func TestParseLogo(t *testing.T) {
	const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle cx="4" cy="4" r="4" fill="#123"/></svg>`
	for _, tc := range []struct {
		name, data, wantType, wantErr string
	}{
		{"png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", ""},
		{"jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg", ""},
		{"svg", svg, "image/svg+xml", ""},
		{"svg with XML declaration", `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + svg, "image/svg+xml", ""},
		{"svg with a fragment link", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="#a"/></svg>`, "image/svg+xml", ""},
		{"empty", "", "", "the file is empty"},
		{"text", "hello", "", "not a PNG, JPEG or SVG image"},
		{"html", "<html><body>hi</body></html>", "", "not a PNG, JPEG or SVG image"},
		{"gif", "GIF89a\x01\x00", "", "not a PNG, JPEG or SVG image"},
		{"script", `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`, "", "may not hold a <script> element"},
		{"onload", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`, "", "may not have event handlers"},
		{"foreignObject", `<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>`, "", "may not hold a <foreignObject> element"},
		{"external image", `<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/x.png"/></svg>`, "", "may not refer to other documents"},
		{"javascript link", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="javascript:alert(1)"><rect/></a></svg>`, "", "may not refer to other documents"},
		{"doctype entities", `<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg"/>`, "", "may not have a DOCTYPE"},
		{"not well-formed", `<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>`, "", "not well-formed"},
		{"too large", "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", MaxLogoBytes), "", "at most 262144"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logo, err := ParseLogo([]byte(tc.data))
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "" && (err != nil || logo.ContentType != tc.wantType):
				t.Fatalf("got %+v, %v; want %s", logo, err, tc.wantType)
			}
		})
	}
}

// TestPortalValidate: every bad key of the portal block is named.
func TestPortalValidate(t *testing.T) {
	errs := Portal{
		Title: strings.Repeat("t", MaxPortalTitle+1), Banner: "bell\a", HelpURL: "http://help.example.com/",
		Logo: &Logo{Data: []byte("nope"), ContentType: "image/png"},
	}.Validate()
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{"title: 81 characters, at most 80", "banner: must be printable text", "help_url: \"http://help.example.com/\" must use https://", "logo_file: not a PNG, JPEG or SVG image"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("got %q, want %q", got[i], want[i])
		}
	}
	if errs := (Portal{HelpURL: "http://127.0.0.1:9000/help", Title: "Example Corp"}).Validate(); len(errs) != 0 {
		t.Errorf("loopback help URL: %v", errs)
	}
}

var assetURLRE = regexp.MustCompile(`(?:href|src)="(/assets/[^"]+)"`)

// TestBranding: the title, the logo (served by the broker under its own
// sandboxing policy), the help link reach every page; the stylesheet and
// script are served at hashed URLs, cached for a year; anything else
// under /assets is 404.
func TestBranding(t *testing.T) {
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>`)
	logo, err := ParseLogo(svg)
	if err != nil {
		t.Fatal(err)
	}
	b := newSessionBroker(t, "http://127.0.0.1:8080", Sessions{})
	b.s.portal = Portal{Title: "Example Corp AWS access", Logo: logo, HelpURL: "https://wiki.example.com/aws"}
	b.s.assets, err = newAssetSet(logo)
	if err != nil {
		t.Fatal(err)
	}
	_, page := b.signInBrowser(t, "alice")
	for _, want := range []string{"<title>Your AWS access · Example Corp AWS access</title>", `<span>Example Corp AWS access</span>`, `href="https://wiki.example.com/aws"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	urls := assetURLRE.FindAllStringSubmatch(page, -1)
	if len(urls) != 4 {
		t.Fatalf("asset URLs %v", urls)
	}
	anon := newTestBrowser(b.s, b.pub)
	for _, u := range urls {
		rec := anon.get(u[1])
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || rec.Body.Len() == 0 {
			t.Errorf("%s: %d %q", u[1], rec.Code, rec.Header().Get("Cache-Control"))
		}
		if strings.Contains(u[1], "/logo.") {
			if !bytes.Equal(rec.Body.Bytes(), svg) || rec.Header().Get("Content-Type") != "image/svg+xml" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "sandbox") {
				t.Errorf("logo: %q %q", rec.Header().Get("Content-Type"), rec.Header().Get("Content-Security-Policy"))
			}
		}
	}
	for _, p := range []string{"/assets/portal.css", "/assets/logo.000000000000.svg", "/assets/"} {
		if rec := anon.get(p); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
	if rec := anon.get("/login/corp"); rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS on a plain-http loopback broker")
	}
}
