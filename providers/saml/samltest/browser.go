package samltest

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// NewBrowser returns an http.Client with a cookie jar that follows redirects.
func NewBrowser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

var (
	formRE  = regexp.MustCompile(`(?is)<form[^>]*\bmethod="post"[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`(?is)<input[^>]*\bname="([^"]*)"[^>]*\bvalue="([^"]*)"[^>]*>`)
)

// Page is a fetched page.
type Page struct {
	Response *http.Response
	Body     []byte
}

// AutoPostForm extracts the first POST form of an HTML page (as SAML
// bindings emit them): its action URL and hidden inputs.
func AutoPostForm(body []byte) (action string, values url.Values, ok bool) {
	m := formRE.FindSubmatch(body)
	if m == nil {
		return "", nil, false
	}
	values = url.Values{}
	for _, in := range inputRE.FindAllSubmatch(m[2], -1) {
		values.Add(html.UnescapeString(string(in[1])), html.UnescapeString(string(in[2])))
	}
	return html.UnescapeString(string(m[1])), values, true
}

// Login runs a browser login that starts at startURL (the SP's login
// endpoint): it follows redirects (HTTP-Redirect binding) and submits the
// self-posting forms of the HTTP-POST binding, both towards the IdP
// (SAMLRequest) and back to the ACS (SAMLResponse), until a page without
// such a form is reached, which it returns. At most 10 form posts.
func Login(t testing.TB, client *http.Client, startURL string) (*Page, error) {
	t.Helper()
	resp, err := client.Get(startURL)
	if err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		action, values, ok := AutoPostForm(body)
		if !ok || (values.Get("SAMLRequest") == "" && values.Get("SAMLResponse") == "") {
			return &Page{Response: resp, Body: body}, nil
		}
		if i >= 10 {
			return nil, fmt.Errorf("samltest: too many form posts")
		}
		target, err := resp.Request.URL.Parse(action)
		if err != nil {
			return nil, err
		}
		resp, err = client.Post(target.String(), "application/x-www-form-urlencoded", strings.NewReader(values.Encode()))
		if err != nil {
			return nil, err
		}
	}
}

// CaptureResponse runs the login like Login but stops before the ACS: it
// returns the IdP's SAMLResponse and RelayState and the ACS URL it was
// addressed to, without submitting it (for replay and tampering tests).
func CaptureResponse(t testing.TB, client *http.Client, startURL string) (acsURL, samlResponse, relayState string, err error) {
	t.Helper()
	resp, err := client.Get(startURL)
	if err != nil {
		return "", "", "", err
	}
	for i := 0; i < 10; i++ {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return "", "", "", err
		}
		action, values, ok := AutoPostForm(body)
		if !ok {
			return "", "", "", fmt.Errorf("samltest: no SAML form (status %d)", resp.StatusCode)
		}
		target, err := resp.Request.URL.Parse(action)
		if err != nil {
			return "", "", "", err
		}
		if values.Get("SAMLResponse") != "" {
			return target.String(), values.Get("SAMLResponse"), values.Get("RelayState"), nil
		}
		resp, err = client.Post(target.String(), "application/x-www-form-urlencoded", strings.NewReader(values.Encode()))
		if err != nil {
			return "", "", "", err
		}
	}
	return "", "", "", fmt.Errorf("samltest: too many form posts")
}
