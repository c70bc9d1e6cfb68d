package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// person is someone at a browser going through the broker's pages for
// the CLI's sign-in: it follows redirects (to the CLI's loopback listener
// too), signs in on a password form, follows a provider's sign-in link,
// enters a device code and presses the button of its decision. It reads
// the pages' forms, not their layout, so a restyled page still works.
type person struct {
	t                  *testing.T
	c                  *http.Client
	username, password string
	provider           string
	// seen are the pages the person went through, in order.
	seen []string
}

func newPerson(t *testing.T, username, password, provider string) *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: t, c: &http.Client{Jar: jar}, username: username, password: password, provider: provider}
}

// webPage is a page the person sees.
type webPage struct {
	url    *url.URL
	status int
	body   string
	doc    *html.Node
}

func (p *person) load(req *http.Request) *webPage {
	p.t.Helper()
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatalf("browser: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	doc, err := html.Parse(strings.NewReader(string(raw)))
	if err != nil {
		p.t.Fatalf("page %s: %v", resp.Request.URL, err)
	}
	return &webPage{url: resp.Request.URL, status: resp.StatusCode, body: string(raw), doc: doc}
}

func (p *person) open(u string) *webPage {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.load(req)
}

// form is one form of a page: where it posts, its fields, its buttons.
type form struct {
	action, method string
	fields         url.Values
	types          map[string]string
	buttons        []url.Values // name=value of each submit button ("" name: none)
	labels         []string
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

func (pg *webPage) forms() []*form {
	var out []*form
	var walk func(n *html.Node, f *form)
	walk = func(n *html.Node, f *form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				f = &form{action: attr(n, "action"), method: strings.ToUpper(attr(n, "method")), fields: url.Values{}, types: map[string]string{}}
				out = append(out, f)
			case "input":
				if f != nil && attr(n, "name") != "" {
					typ := strings.ToLower(attr(n, "type"))
					if typ == "submit" {
						f.buttons = append(f.buttons, url.Values{attr(n, "name"): {attr(n, "value")}})
						f.labels = append(f.labels, attr(n, "value"))
					} else {
						f.fields.Set(attr(n, "name"), attr(n, "value"))
						f.types[attr(n, "name")] = typ
					}
				}
			case "button":
				if f != nil && strings.ToLower(attr(n, "type")) != "button" {
					v := url.Values{}
					if attr(n, "name") != "" {
						v.Set(attr(n, "name"), attr(n, "value"))
					}
					f.buttons = append(f.buttons, v)
					f.labels = append(f.labels, strings.ToLower(attr(n, "value")+" "+text(n)))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, f)
		}
	}
	walk(pg.doc, nil)
	return out
}

// links are the page's links' targets.
func (pg *webPage) links() []string {
	var out []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" && attr(n, "href") != "" {
			out = append(out, attr(n, "href"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(pg.doc)
	return out
}

// submit posts f with the button whose label contains decision.
func (p *person) submit(pg *webPage, f *form, decision string) *webPage {
	p.t.Helper()
	vals := url.Values{}
	for k, v := range f.fields {
		vals[k] = v
	}
	pressed := false
	for i, l := range f.labels {
		if decision == "" || strings.Contains(l, decision) {
			for k, v := range f.buttons[i] {
				vals[k] = v
			}
			pressed = true
			break
		}
	}
	if !pressed && decision != "" {
		p.t.Fatalf("no %q button on %s:\n%s", decision, pg.url, pg.body)
	}
	target, err := pg.url.Parse(f.action)
	if err != nil {
		p.t.Fatal(err)
	}
	method := f.method
	if method == "" {
		method = http.MethodGet
	}
	var req *http.Request
	if method == http.MethodPost {
		req, _ = http.NewRequest(method, target.String(), strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		target.RawQuery = vals.Encode()
		req, _ = http.NewRequest(method, target.String(), nil)
	}
	return p.load(req)
}

// goThrough answers the pages from pg on and returns the first page
// where there is nothing left to do: a password form is filled with the
// person's username and password, a code field with userCode, a list of
// sign-in methods is followed to the person's provider, and a form with a
// decision button ("allow", "deny", "approve") is pressed.
func (p *person) goThrough(pg *webPage, userCode, decision string) *webPage {
	p.t.Helper()
	for range 12 {
		p.seen = append(p.seen, pg.body)
		next := p.act(pg, userCode, decision)
		if next == nil {
			return pg
		}
		pg = next
	}
	p.t.Fatalf("the person went through 12 pages without finishing; last %s:\n%s", pg.url, pg.body)
	return nil
}

// act does what the page asks, or returns nil.
func (p *person) act(pg *webPage, userCode, decision string) *webPage {
	p.t.Helper()
	for _, f := range pg.forms() {
		switch {
		case hasType(f, "password"):
			for name, typ := range f.types {
				switch {
				case typ == "password":
					f.fields.Set(name, p.password)
				case (typ == "text" || typ == "email" || typ == "") && strings.Contains(name, "user"):
					f.fields.Set(name, p.username)
				}
			}
			return p.submit(pg, f, "")
		case f.fields.Has("user_code") && f.fields.Get("user_code") == "" && userCode != "":
			f.fields.Set("user_code", userCode)
			return p.submit(pg, f, "")
		case hasLabel(f, decision):
			return p.submit(pg, f, decision)
		}
	}
	for _, l := range pg.links() {
		if strings.HasSuffix(l, "/login/"+p.provider) {
			u, _ := pg.url.Parse(l)
			return p.open(u.String())
		}
	}
	return nil
}

func hasType(f *form, typ string) bool {
	for _, t := range f.types {
		if t == typ {
			return true
		}
	}
	return false
}

func hasLabel(f *form, decision string) bool {
	for _, l := range f.labels {
		if decision != "" && strings.Contains(l, decision) {
			return true
		}
	}
	return false
}
