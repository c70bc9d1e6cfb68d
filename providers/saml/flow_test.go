package saml_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// spServer is a minimal broker around a Provider: /login starts an
// SP-initiated login and keeps the request ID in a cookie; the ACS verifies.
type spServer struct {
	srv *httptest.Server
	f   *fixture
}

func newSPServer(t *testing.T, idp *samltest.IdP, encrypt bool, mod func(*saml.Config)) *spServer {
	t.Helper()
	s := &spServer{}
	var h http.Handler
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(s.srv.Close)
	s.f = newFixtureURL(t, "corp", idp, s.srv.URL, mod)
	md, err := s.f.prov.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	idp.RegisterSP(t, md, encrypt)
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		binding := saml.BindingRedirect
		if r.URL.Query().Get("binding") == "post" {
			binding = saml.BindingPOST
		}
		req, err := s.f.prov.MakeAuthnRequest(r.Context(), binding, r.URL.Query().Get("rs"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "saml_req", Value: req.ID, Path: "/"})
		if req.RedirectURL != "" {
			http.Redirect(w, r, req.RedirectURL, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(req.HTMLForm)
	})
	mux.HandleFunc("/saml/corp/acs", func(w http.ResponseWriter, r *http.Request) {
		var ids []string
		if c, err := r.Cookie("saml_req"); err == nil {
			ids = []string{c.Value}
		}
		id, relay, err := s.f.prov.HandleACS(r.Context(), r, ids)
		if err != nil {
			http.Error(w, "Authentication failed", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "subject=%s groups=%s relay=%s", id.Subject, strings.Join(id.Groups, ","), relay)
	})
	h = mux
	return s
}

func TestSPInitiatedLogin(t *testing.T) {
	for _, tc := range []struct {
		binding string
		encrypt bool
		sign    bool
	}{
		{"redirect", false, false}, {"post", false, false}, {"redirect", true, false}, {"post", true, true}, {"redirect", false, true},
	} {
		t.Run(fmt.Sprintf("%s/encrypt=%v/sign=%v", tc.binding, tc.encrypt, tc.sign), func(t *testing.T) {
			k, c := cachedKey(t, "idp")
			idp := samltest.NewIdP(t, samltest.WithKeyPair(k, c))
			idp.SetUser(&samltest.User{NameID: userID, Attributes: []samltest.Attribute{{Name: "groups", Values: []string{"dev", "ops"}}}})
			sp := newSPServer(t, idp, tc.encrypt, func(c *saml.Config) { c.SignRequests = tc.sign })
			page, err := samltest.Login(t, samltest.NewBrowser(t), sp.srv.URL+"/login?binding="+tc.binding+"&rs=/console/home")
			if err != nil {
				t.Fatal(err)
			}
			want := "subject=" + idp.EntityID + "!" + userID + " groups=dev,ops relay=/console/home"
			if page.Response.StatusCode != 200 || string(page.Body) != want {
				t.Fatalf("status %d body %q, want %q", page.Response.StatusCode, page.Body, want)
			}
			if idp.SSORequests() != 1 {
				t.Fatalf("IdP saw %d SSO requests", idp.SSORequests())
			}
			checkLogs(t, sp.f.logs.String())
		})
	}
}

func TestIdPInitiated(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			k, c := cachedKey(t, "idp")
			idp := samltest.NewIdP(t, samltest.WithKeyPair(k, c))
			idp.SetUser(&samltest.User{NameID: userID})
			sp := newSPServer(t, idp, true, func(c *saml.Config) { c.AllowIdPInitiated = allow })
			for _, rs := range []string{"/ok", "https://evil.example/"} {
				page, err := samltest.Login(t, samltest.NewBrowser(t), idp.InitiateURL(sp.f.prov.EntityID(), rs))
				if err != nil {
					t.Fatal(err)
				}
				if !allow {
					if page.Response.StatusCode != http.StatusForbidden {
						t.Fatalf("unsolicited response accepted: %s", page.Body)
					}
					continue
				}
				wantRelay := rs
				if rs != "/ok" {
					wantRelay = ""
				}
				if page.Response.StatusCode != 200 || !strings.HasSuffix(string(page.Body), "relay="+wantRelay) {
					t.Fatalf("status %d body %q", page.Response.StatusCode, page.Body)
				}
			}
			checkLogs(t, sp.f.logs.String())
		})
	}
}

func TestACSReplay(t *testing.T) {
	k, c := cachedKey(t, "idp")
	idp := samltest.NewIdP(t, samltest.WithKeyPair(k, c))
	idp.SetUser(&samltest.User{NameID: userID})
	sp := newSPServer(t, idp, false, nil)
	browser := samltest.NewBrowser(t)
	acs, resp, relay, err := samltest.CaptureResponse(t, browser, sp.srv.URL+"/login")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(sp.srv.URL)
	var reqID string
	for _, ck := range browser.Jar.Cookies(u) {
		if ck.Name == "saml_req" {
			reqID = ck.Value
		}
	}
	post := func() error {
		r := httptest.NewRequest(http.MethodPost, acs, strings.NewReader(url.Values{"SAMLResponse": {resp}, "RelayState": {relay}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, _, err := sp.f.prov.HandleACS(context.Background(), r, []string{reqID})
		return err
	}
	if err := post(); err != nil {
		t.Fatalf("first use: %v", err)
	}
	err = post()
	sp.f.expectReject(t, zeroIdentity, err, saml.ErrReplay)
}

func TestReplayConcurrent(t *testing.T) {
	f := newFixture(t, nil)
	b64 := samltest.Encode(samltest.XML(t, f.build(t, nil)))
	var ok, replay, other atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := f.post(t, b64, []string{"REQ1"}, "")
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, saml.ErrReplay):
				replay.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || replay.Load() != 99 || other.Load() != 0 {
		t.Fatalf("ok=%d replay=%d other=%d", ok.Load(), replay.Load(), other.Load())
	}
	checkLogs(t, f.logs.String())
}

func TestTwoIdPsSideBySide(t *testing.T) {
	ka, ca := cachedKey(t, "idp")
	kb, cb := cachedKey(t, "idp2")
	idpA := samltest.NewIdP(t, samltest.WithKeyPair(ka, ca))
	idpB := samltest.NewIdP(t, samltest.WithKeyPair(kb, cb))
	fa := newFixtureIdP(t, "corp", idpA, nil)
	fb := newFixtureIdP(t, "partner", idpB, nil)
	// Each accepts its own.
	if _, err := fa.postDoc(t, fa.build(t, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fb.postDoc(t, fb.build(t, nil)); err != nil {
		t.Fatal(err)
	}
	// IdP A's response, addressed to B's ACS and audience, presented to B.
	specB := fb.spec()
	docAtoB := idpA.BuildResponse(t, specB)
	id, err := fb.postDoc(t, docAtoB)
	fb.expectReject(t, id, err, saml.ErrIssuer)
	// SAML-21: A's issuer, signed with B's key, presented to A.
	doc := fa.build(t, func(s *samltest.ResponseSpec) { s.SignerKey, s.SignerCert = kb, cb })
	id, err = fa.postDoc(t, doc)
	fa.expectReject(t, id, err, saml.ErrSignature)
	// A's genuine response for A, presented at B's ACS.
	id, _, err = fb.post(t, samltest.Encode(samltest.XML(t, fa.build(t, nil))), []string{"REQ1"}, "")
	fb.expectReject(t, id, err, saml.ErrIssuer)
}

func TestHostileDocuments(t *testing.T) {
	var egress atomic.Int32
	sentinel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { egress.Add(1) }))
	defer sentinel.Close()
	f := newFixture(t, nil)
	good := string(samltest.XML(t, f.build(t, nil)))
	// A Response-signed variant, for attributes the Response signature covers.
	signedResp := string(samltest.XML(t, f.build(t, func(s *samltest.ResponseSpec) { s.Sign = samltest.SignResponse })))
	onRoot := func(doc, attrs string) string {
		return strings.Replace(doc, "<samlp:Response ", "<samlp:Response "+attrs+" ", 1)
	}
	deep := strings.Repeat("<a>", 100000) + strings.Repeat("</a>", 100000)
	cases := map[string]struct {
		doc  string
		want error
	}{
		"SAML-42 billion laughs":       {`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>` + strings.Replace(good, userID, "&lol2;", 1), saml.ErrMalformed},
		"SAML-42 external DTD":         {`<!DOCTYPE r [<!ENTITY % sp SYSTEM "` + sentinel.URL + `/attacker.dtd">%sp;]>` + good, saml.ErrMalformed},
		"SAML-42 file entity":          {`<!DOCTYPE r [<!ENTITY heh SYSTEM "file:///etc/passwd">]>` + strings.Replace(good, userID, "&heh;", 1), saml.ErrMalformed},
		"SAML-28 DOCTYPE differential": {`<!DOCTYPE response SYSTEM 'x"><!--'>` + good + `<![CDATA[-->` + good + `<!--]]>-->`, saml.ErrMalformed},
		"SAML-27 colon attribute":      {strings.Replace(good, "<samlp:Response ", `<samlp:Response ::foo="bar" `, 1), saml.ErrMalformed},
		// Names encoding/xml's RawToken tolerates (it leaves them whole in
		// Local) but that are not well-formed QNames.
		"SAML-27 colon-only attribute name":                  {onRoot(good, `:="v"`), saml.ErrMalformed},
		"SAML-27 empty prefix declaration":                   {onRoot(good, `xmlns:="y"`), saml.ErrMalformed},
		"SAML-27 empty prefix attribute":                     {onRoot(good, `:foo="v"`), saml.ErrMalformed},
		"SAML-27 empty local part":                           {onRoot(good, `foo:="v"`), saml.ErrMalformed},
		"SAML-27 colon-only element name":                    {strings.Replace(good, "</samlp:Status>", "<:/></samlp:Status>", 1), saml.ErrMalformed},
		"SAML-27 prefix undeclared (XML 1.1)":                {onRoot(good, `xmlns:evil=""`), saml.ErrMalformed},
		"SAML-27 prefix xmlns declared":                      {onRoot(good, `xmlns:xmlns="urn:x"`), saml.ErrMalformed},
		"SAML-27 prefix xml rebound":                         {onRoot(good, `xmlns:xml="urn:x"`), saml.ErrMalformed},
		"SAML-27 duplicate Destination (signed)":             {onRoot(signedResp, `Destination="https://evil.example/acs"`), saml.ErrMalformed},
		"SAML-27 duplicate Destination, same value (signed)": {onRoot(signedResp, `Destination="`+f.prov.ACSURL()+`"`), saml.ErrMalformed},
		"SAML-27 duplicate InResponseTo (signed)":            {onRoot(signedResp, `InResponseTo="REQ-ATTACKER"`), saml.ErrMalformed},
		"SAML-27 duplicate InResponseTo (assertion signed)":  {onRoot(good, `InResponseTo="REQ1"`), saml.ErrMalformed},
		"SAML-27 duplicate prefixed attribute":               {onRoot(good, `xmlns:e="urn:e" e:a="1" e:a="2"`), saml.ErrMalformed},
		"SAML-27 duplicate by namespace URI":                 {onRoot(good, `xmlns:e="urn:e" xmlns:f="urn:e" e:a="1" f:a="2"`), saml.ErrMalformed},
		"SAML-27 duplicate namespace declaration":            {onRoot(good, `xmlns:e="urn:e" xmlns:e="urn:f"`), saml.ErrMalformed},
		"SAML-30 trailing garbage":                           {good + "<x/>", saml.ErrMalformed},
		"SAML-30 leading garbage":                            {"garbage" + good, saml.ErrMalformed},
		"SAML-44 deep nesting":                               {strings.Replace(good, userID, deep, 1), saml.ErrMalformed},
		"SAML-44 wide tree":                                  {strings.Replace(good, userID, strings.Repeat("<a/>", 60000), 1), saml.ErrMalformed},
		"processing instruction":                             {strings.Replace(good, "<samlp:Response ", "<?evil x?><samlp:Response ", 1), saml.ErrMalformed},
		"not SAML":                                           {"<html/>", saml.ErrMalformed},
		"SAML-43 oversized decoded":                          {"<a>" + strings.Repeat("x", 1<<20) + "</a>", saml.ErrTooLarge},
	}
	// Each case gets its own provider (and replay cache) trusting the same
	// IdP, so an acceptance shows as such rather than as a replay.
	fresh := func(t *testing.T) *fixture { return newFixtureIdP(t, "corp", f.idp, nil) }
	for name, doc := range map[string]string{"assertion signed": good, "response signed": signedResp} {
		if _, _, err := fresh(t).post(t, samltest.Encode([]byte(doc)), []string{"REQ1"}, ""); err != nil {
			t.Fatalf("untouched baseline (%s) rejected: %v", name, err)
		}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := fresh(t)
			start := time.Now()
			id, _, err := f.post(t, samltest.Encode([]byte(c.doc)), []string{"REQ1"}, "")
			f.expectReject(t, id, err, c.want)
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
	if egress.Load() != 0 {
		t.Fatalf("egress sentinel saw %d requests", egress.Load())
	}
}

func TestOversizedForm(t *testing.T) {
	f := newFixture(t, nil)
	// SAML-43: 2 MB form body is cut by the body cap.
	big := strings.Repeat("A", 2<<20)
	id, _, err := f.post(t, big, []string{"REQ1"}, "")
	f.expectReject(t, id, err, saml.ErrTooLarge)
	// A GET, a missing SAMLResponse, bad base64, an artifact.
	r := httptest.NewRequest(http.MethodGet, f.prov.ACSURL(), nil)
	_, _, err = f.prov.HandleACS(context.Background(), r, nil)
	f.expectReject(t, zeroIdentity, err, saml.ErrMalformed)
	id, _, err = f.post(t, "!!!not base64", []string{"REQ1"}, "")
	f.expectReject(t, id, err, saml.ErrMalformed)
	r = httptest.NewRequest(http.MethodPost, f.prov.ACSURL(), strings.NewReader("SAMLart=AAQAA"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, _, err = f.prov.HandleACS(context.Background(), r, nil)
	f.expectReject(t, zeroIdentity, err, saml.ErrMalformed)
}

func TestRelayState(t *testing.T) {
	// SAML-46.
	for rs, want := range map[string]string{
		"/console/home?x=1":                   "/console/home?x=1",
		"/":                                   "/",
		"https://evil.example/":               "",
		"//evil.example":                      "",
		`/\evil.example`:                      "",
		"https:evil.example":                  "",
		"%2F%2Fevil.example":                  "",
		"/%2F%2Fevil.example":                 "",
		"javascript:alert(1)":                 "",
		"https://broker.example@evil.example": "",
		"/a\nb":                               "",
		"/a\x00b":                             "",
		"relative/path":                       "",
		"/" + strings.Repeat("a", 4096):       "",
	} {
		if got := saml.SafeRelayState(rs); got != want {
			t.Errorf("SafeRelayState(%q) = %q, want %q", rs, got, want)
		}
	}
	// Through the ACS: an evil RelayState never comes back.
	f := newFixture(t, nil)
	_, relay, err := f.post(t, samltest.Encode(samltest.XML(t, f.build(t, nil))), []string{"REQ1"}, "//evil.example")
	if err != nil || relay != "" {
		t.Fatalf("relay %q err %v", relay, err)
	}
}

func TestCrewjamSHA1DefaultRefused(t *testing.T) {
	k, c := cachedKey(t, "idp")
	for _, allow := range []bool{false, true} {
		idp := samltest.NewIdP(t, samltest.WithKeyPair(k, c), samltest.WithSHA1())
		idp.SetUser(&samltest.User{NameID: userID})
		sp := newSPServer(t, idp, false, func(c *saml.Config) { c.AllowSHA1 = allow })
		page, err := samltest.Login(t, samltest.NewBrowser(t), sp.srv.URL+"/login")
		if err != nil {
			t.Fatal(err)
		}
		if got := page.Response.StatusCode == 200; got != allow {
			t.Fatalf("allow_sha1=%v: status %d", allow, page.Response.StatusCode)
		}
		if !allow && !strings.Contains(sp.f.logs.String(), "signature method not allowed") {
			t.Fatalf("reason not logged: %s", sp.f.logs.String())
		}
	}
}
