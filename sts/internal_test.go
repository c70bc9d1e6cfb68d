package sts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/idbroker/idbroker/internal/awsspec"
)

const trustAnyOIDC = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/idp.example.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`

func testService(t *testing.T, kr *KeyRing, now func() time.Time) *Service {
	t.Helper()
	s, err := New(Config{AccountID: "123456789012", Keys: kr, Now: now,
		Roles: []RoleConfig{{Name: "r", TrustPolicy: []byte(trustAnyOIDC)}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mintFor(t *testing.T, s *Service, d time.Duration) Credentials {
	t.Helper()
	r := s.roles["arn:aws:iam::123456789012:role/r"]
	c, _, err := s.mint(context.Background(), mintParams{role: r, sessionName: "s", duration: d, now: s.now()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signedCallerIdentity builds a GetCallerIdentity request signed by the SDK signer.
func signedCallerIdentity(t *testing.T, c Credentials, at time.Time) (*http.Request, []byte) {
	t.Helper()
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	req := httptest.NewRequest(http.MethodPost, "http://sts.test:8443/", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken},
		req, hex.EncodeToString(sum[:]), "sts", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req, body
}

// TestKeyRotation is THREATS STS-22: tokens sealed by an old key keep
// verifying after rotation, new tokens use the new key, and removing the old
// key invalidates its tokens.
func TestKeyRotation(t *testing.T) {
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := testService(t, kr, func() time.Time { return now })
	oldKey := kr.ActiveKeyID()
	old := mintFor(t, s, time.Hour)

	newKey, err := kr.Rotate(now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if kr.ActiveKeyID() != newKey || newKey <= oldKey {
		t.Fatalf("active key %q after rotation to %q (old %q)", kr.ActiveKeyID(), newKey, oldKey)
	}
	fresh := mintFor(t, s, time.Hour)
	for name, c := range map[string]Credentials{"old": old, "new": fresh} {
		req, body := signedCallerIdentity(t, c, now)
		if _, err := s.Authenticate(req, body); err != nil {
			t.Errorf("%s token after rotation: %v", name, err)
		}
	}
	if _, rk, err := kr.openToken(fresh.SessionToken); err != nil || rk.id != newKey {
		t.Errorf("fresh token sealed by %v, want %s (%v)", rk, newKey, err)
	}
	if err := kr.RemoveKey(newKey); err == nil {
		t.Error("removing the sealing key succeeded")
	}
	if err := kr.RemoveKey(oldKey); err != nil {
		t.Fatal(err)
	}
	req, body := signedCallerIdentity(t, old, now)
	if _, err := s.Authenticate(req, body); err == nil || err.(*Error).Code != "InvalidClientTokenId" {
		t.Errorf("old token after key removal: %v", err)
	}
	// A different key ring (another deployment) never accepts our tokens.
	other, _ := GenerateKeyRing()
	s2 := testService(t, other, func() time.Time { return now })
	req, body = signedCallerIdentity(t, fresh, now)
	if _, err := s2.Authenticate(req, body); err == nil || err.(*Error).Code != "InvalidClientTokenId" {
		t.Errorf("foreign key ring: %v", err)
	}
}

func TestExpiryBoundary(t *testing.T) {
	kr, _ := GenerateKeyRing()
	now := time.Now().Truncate(time.Second)
	clock := now
	s := testService(t, kr, func() time.Time { return clock })
	c := mintFor(t, s, 900*time.Second)
	for _, tc := range []struct {
		at   time.Time
		code string
	}{
		{now.Add(899 * time.Second), ""},
		{now.Add(900 * time.Second), "ExpiredToken"}, // now == exp is expired
		{now.Add(901 * time.Second), "ExpiredToken"},
	} {
		clock = tc.at
		req, body := signedCallerIdentity(t, c, tc.at)
		_, err := s.Authenticate(req, body)
		got := ""
		if err != nil {
			got = err.(*Error).Code
		}
		if got != tc.code {
			t.Errorf("at exp%+v: got %q want %q", tc.at.Sub(c.Expiration), got, tc.code)
		}
	}
}

func TestKeyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := LoadKeyRing(dir); err == nil {
		t.Error("loading a missing dir succeeded")
	}
	if err := InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode().Perm())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	if len(files) != 1 {
		t.Fatalf("key files %v", files)
	}
	if fi, _ := os.Stat(files[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	kr, err := LoadKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := kr.ActiveKeyID()
	// init on a directory that holds a key leaves it alone.
	if err := InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.key")); len(files) != 1 {
		t.Fatalf("init on a keyed dir: key files %v", files)
	}
	// Rotation: a second key (distinct id even within the same second).
	rot, err := RotateKeyDir(dir, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("ignored"), 0o644); err != nil {
		t.Fatal(err)
	}
	kr2, err := LoadKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ids := kr2.KeyIDs(); len(ids) != 2 || !slices.Contains(ids, first) || kr2.ActiveKeyID() != rot.ID {
		t.Errorf("ids %v active %s, want %s", ids, kr2.ActiveKeyID(), rot.ID)
	}
	// Two loads of the same dir agree (replicas): a token from one opens in the other.
	s1 := testService(t, kr2, time.Now)
	c := mintFor(t, s1, time.Hour)
	kr3, _ := LoadKeyRing(dir)
	if _, _, err := kr3.openToken(c.SessionToken); err != nil {
		t.Errorf("replica cannot open token: %v", err)
	}
	// Insecure permissions and garbage are refused, naming the file.
	bad := filepath.Join(dir, "20990101T000000Z-deadbeef.key")
	if err := os.WriteFile(bad, []byte("not base64!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyRing(dir); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("garbage key: %v", err)
	}
	if err := os.Chmod(bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyRing(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
}

func TestOpenTokenHostile(t *testing.T) {
	kr, _ := GenerateKeyRing()
	s := testService(t, kr, time.Now)
	good := mintFor(t, s, time.Hour).SessionToken
	for name, tok := range map[string]string{
		"empty":         "",
		"oversized":     strings.Repeat("A", maxSessionTokenLen+1),
		"not base64":    "!!!!",
		"one byte":      "AQ",
		"bad version":   "Ag" + good[2:],
		"kid too long":  "Af8",
		"truncated":     good[:len(good)/2],
		"flipped last":  good[:len(good)-1] + string("AB"[map[bool]int{true: 1}[good[len(good)-1] == 'A']]),
		"appended junk": good + "AAAA",
	} {
		if _, _, err := kr.openToken(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := kr.openToken(good); err != nil {
		t.Errorf("good token: %v", err)
	}
}

// TestNewConfigErrors: every problem is a *ConfigError naming its key path
// (the entry's own KeyPath, or its index) and saying what is wrong.
func TestNewConfigErrors(t *testing.T) {
	kr, _ := GenerateKeyRing()
	base := func() Config {
		return Config{AccountID: "123456789012", Keys: kr, Roles: []RoleConfig{{Name: "r", TrustPolicy: []byte(trustAnyOIDC)}}}
	}
	oidc := func(issuer string) OIDCProvider { return OIDCProvider{Issuer: issuer, Verifier: nopVerifier{}} }
	cases := []struct {
		name       string
		mod        func(*Config)
		path, want string
	}{
		{"account", func(c *Config) { c.AccountID = "12" }, "account_id", `"12" must be 12 digits`},
		{"keys", func(c *Config) { c.Keys = nil }, "keys", "required"},
		{"partition", func(c *Config) { c.Partition = "gcp" }, "partition", `"gcp" is not an AWS partition`},
		{"role name", func(c *Config) { c.Roles[0].Name = "a b" }, "roles[0].name", `"a b" must be 1-64 characters`},
		{"role key path", func(c *Config) { c.Roles[0].Name, c.Roles[0].KeyPath = "a b", "roles[7]" }, "roles[7].name", "must be"},
		{"trust policy", func(c *Config) { c.Roles[0].TrustPolicy = []byte(`{"Statement":[`) }, "roles[0].trust_policy", "MalformedPolicyDocument: "},
		{"trust missing", func(c *Config) { c.Roles[0].TrustPolicy = nil }, "roles[0].trust_policy", "missing"},
		{"permission policy", func(c *Config) { c.Roles[0].Policies = [][]byte{[]byte(`{}`)} }, "roles[0].policies[0]", "MalformedPolicyDocument: "},
		{"max duration", func(c *Config) { c.Roles[0].MaxSessionDuration = 13 * time.Hour }, "roles[0].max_session_duration", "13h0m0s must be whole seconds between 1h0m0s and 12h0m0s"},
		{"path", func(c *Config) { c.Roles[0].Path = "noslash" }, "roles[0].path", `"noslash" must start and end with /`},
		{"duplicate role", func(c *Config) { c.Roles = append(c.Roles, RoleConfig{Name: "R", TrustPolicy: []byte(trustAnyOIDC)}) }, "roles[1].name", `"R" is defined twice`},
		{"unknown managed", func(c *Config) { c.Roles[0].PolicyARNs = []string{"arn:aws:iam::123456789012:policy/x"} }, "roles[0].policy_arns[0]", "is not the ARN of a managed policy"},
		{"managed malformed", func(c *Config) { c.ManagedPolicies = []ManagedPolicy{{Name: "m", Document: []byte("[")}} }, "policies[0].document", "MalformedPolicyDocument: "},
		{"managed name", func(c *Config) {
			c.ManagedPolicies = []ManagedPolicy{{Name: "bad name!", Document: []byte(trustAnyOIDC), KeyPath: "policies[3]"}}
		}, "policies[3].name", "is not a valid policy name"},
		{"managed twice", func(c *Config) {
			p := ManagedPolicy{Name: "p", Document: bigPolicy(200)}
			c.ManagedPolicies = []ManagedPolicy{p, p}
		}, "policies[1].name", `"p" is defined twice`},
		{"managed over 6,144 characters", func(c *Config) {
			c.ManagedPolicies = []ManagedPolicy{{Name: "big", Document: bigPolicy(6200)}}
		}, "policies[0].document", "policy exceeds its IAM size quota: managed policy"},
		{"inline policies over 10,240 characters together", func(c *Config) {
			c.Roles[0].Policies = [][]byte{bigPolicy(5200), bigPolicy(5200)}
		}, "roles[0].policies", "policy exceeds its IAM size quota: role inline policies"},
		{"issuer scheme", func(c *Config) { c.OIDCProviders = []OIDCProvider{oidc("http://idp.example.com")} }, "oidc_providers[0].issuer", "http:// is allowed only on loopback hosts"},
		{"issuer query", func(c *Config) { c.OIDCProviders = []OIDCProvider{oidc("https://idp.example.com/?x=1")} }, "oidc_providers[0].issuer", "without query"},
		{"issuer key path", func(c *Config) {
			p := oidc("ftp://idp.example.com")
			p.KeyPath = "sts.oidc_providers[4]"
			c.OIDCProviders = []OIDCProvider{p}
		}, "sts.oidc_providers[4].issuer", "scheme must be https"},
		{"no verifier", func(c *Config) { c.OIDCProviders = []OIDCProvider{{Issuer: "https://idp.example.com"}} }, "oidc_providers[0].verifier", "required"},
		{"duplicate issuer", func(c *Config) {
			c.OIDCProviders = []OIDCProvider{oidc("https://idp.example.com"), oidc("https://idp.example.com")}
		}, "oidc_providers[1].issuer", "registered twice"},
		{"saml name", func(c *Config) { c.SAMLProviders = []SAMLProvider{{Name: "a b"}} }, "saml_providers[0].name", "must be 1-128 characters"},
		{"saml verifier", func(c *Config) { c.SAMLProviders = []SAMLProvider{{Name: "ab"}} }, "saml_providers[0].verifier", "required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mod(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				ce, ok := e.(*ConfigError)
				if !ok {
					t.Fatalf("%T is not a *ConfigError: %v", e, e)
				}
				if ce.Path == tc.path && strings.Contains(ce.Err.Error(), tc.want) && ce.Error() == ce.Path+": "+ce.Err.Error() {
					return
				}
			}
			t.Errorf("New: %v\nwant a problem at %s mentioning %q", err, tc.path, tc.want)
		})
	}
	if _, err := New(base()); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// TestNewReportsEveryProblemOnce: New lists all its problems, each once, and
// does not blame a role for a managed policy reported already.
func TestNewReportsEveryProblemOnce(t *testing.T) {
	kr, _ := GenerateKeyRing()
	trust := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`)
	bad := []byte(`{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}`)
	_, err := New(Config{
		AccountID: "123456789012", Keys: kr,
		ManagedPolicies: []ManagedPolicy{{Name: "Broken", Document: bad}, {Name: "bad name!", Document: trust}},
		Roles: []RoleConfig{
			{Name: "A", TrustPolicy: []byte(`{}`)},
			{Name: "B", TrustPolicy: trust, Policies: [][]byte{bad}, MaxSessionDuration: 30 * time.Hour},
			{Name: "C", TrustPolicy: trust, PolicyARNs: []string{"arn:aws:iam::123456789012:policy/Missing", "arn:aws:iam::123456789012:policy/Broken"}},
		},
	})
	if err == nil {
		t.Fatal("accepted")
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, e.Error())
	}
	want := []string{
		"policies[0].document: MalformedPolicyDocument: Policy statement must contain resources.",
		`policies[1].name: "bad name!" is not a valid policy name (1-128 characters of [\w+=,.@-])`,
		"roles[0].trust_policy: MalformedPolicyDocument: ",
		"roles[1].max_session_duration: 30h0m0s must be whole seconds between 1h0m0s and 12h0m0s",
		"roles[1].policies[0]: MalformedPolicyDocument: Policy statement must contain resources.",
		`roles[2].policy_arns[0]: "arn:aws:iam::123456789012:policy/Missing" is not the ARN of a managed policy (arn:aws:iam::123456789012:policy/<name>)`,
	}
	if len(got) != len(want) {
		t.Fatalf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want %q…", i, got[i], want[i])
		}
	}
}

// bigPolicy is a valid identity policy of about n characters.
func bigPolicy(n int) []byte {
	pad := strings.Repeat("a", max(n-120, 1))
	return []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"Big","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + pad + `"}]}`)
}

type nopVerifier struct{}

func (nopVerifier) VerifyWebIdentity(context.Context, string) (*WebIdentity, error) {
	return nil, awsspec.ErrInvalidToken
}

func TestIdentifiers(t *testing.T) {
	a := roleID("123456789012", "arn:aws:iam::123456789012:role/x")
	if a != roleID("123456789012", "arn:aws:iam::123456789012:role/x") || len(a) != 21 || !strings.HasPrefix(a, "AROA") || strings.ToUpper(a) != a {
		t.Errorf("role id %q", a)
	}
	if a == roleID("123456789012", "arn:aws:iam::123456789012:role/y") {
		t.Error("role ids collide")
	}
	seen := map[string]bool{}
	for range 1000 {
		k, err := newAccessKeyID()
		if err != nil || len(k) != 20 || seen[k] {
			t.Fatalf("access key %q %v", k, err)
		}
		seen[k] = true
	}
}

type ldapResult struct {
	XMLName xml.Name `xml:"ignored"`
	User    string   `xml:"User"`
	Groups  []string `xml:"Groups>member"`
}

// TestRegisterAction: a broker-only action gets parsed parameters and list
// helpers, and its result is wrapped in the AWS envelope.
func TestRegisterAction(t *testing.T) {
	const wrongPassword = "not-the-password"
	kr, _ := GenerateKeyRing()
	s := testService(t, kr, time.Now)
	s.RegisterAction("AssumeRoleWithLDAPIdentity", func(ctx context.Context, req *Request) (any, error) {
		if req.Get("LDAPPassword") == wrongPassword {
			return nil, errAccessDenied("Authentication failed")
		}
		groups, err := req.List("Groups")
		if err != nil {
			return nil, err
		}
		tags, err := req.StructList("Tags", "Key", "Value")
		if err != nil {
			return nil, err
		}
		if len(tags) != 2 || tags[0]["Key"] != "a" || tags[1]["Value"] != "2" || req.SourceIP == "" || req.HTTP == nil {
			t.Errorf("tags %v ip %q", tags, req.SourceIP)
		}
		return ldapResult{User: req.Get("LDAPUsername"), Groups: groups}, nil
	})
	srv := httptest.NewServer(s)
	defer srv.Close()
	post := func(body string) (int, string) {
		resp, err := srv.Client().Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, _ = io.Copy(b, resp.Body)
		return resp.StatusCode, b.String()
	}
	code, body := post("Action=AssumeRoleWithLDAPIdentity&Version=2011-06-15&LDAPUsername=alice&LDAPPassword=pw" +
		"&Groups.member.2=ops&Groups.member.1=dev&Tags.member.2.Key=b&Tags.member.2.Value=2&Tags.member.1.Key=a&Tags.member.1.Value=1")
	want := `<AssumeRoleWithLDAPIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithLDAPIdentityResult><User>alice</User><Groups><member>dev</member><member>ops</member></Groups></AssumeRoleWithLDAPIdentityResult><ResponseMetadata><RequestId>`
	if code != 200 || !strings.HasPrefix(body, want) {
		t.Errorf("%d %s", code, body)
	}
	code, body = post("Action=AssumeRoleWithLDAPIdentity&Version=2011-06-15&LDAPUsername=alice&LDAPPassword=" + wrongPassword)
	// The refusal must not echo the password. The body also carries a
	// random request id, so the password is one no hex id can contain.
	if code != 403 || !strings.Contains(body, "<Code>AccessDenied</Code><Message>Authentication failed</Message>") || strings.Contains(body, wrongPassword) {
		t.Errorf("%d %s", code, body)
	}
	code, body = post("Action=AssumeRoleWithLDAPIdentity&Version=2011-06-15&Groups.member.0=x")
	if code != 400 || !strings.Contains(body, "ValidationError") {
		t.Errorf("bad index: %d %s", code, body)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a built-in did not panic")
		}
	}()
	s.RegisterAction("GetCallerIdentity", func(context.Context, *Request) (any, error) { return nil, nil })
}

func TestPrefersJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                  false,
		"*/*":                               false,
		"application/json":                  true,
		"application/json, */*":             true,
		"text/xml, application/json":        false,
		"text/xml;q=0.5, application/json":  true,
		"application/json;q=0":              false,
		"application/xml, application/json": false,
	} {
		var h []string
		if accept != "" {
			h = []string{accept}
		}
		if got := prefersJSON(h); got != want {
			t.Errorf("%q: got %v", accept, got)
		}
	}
}

// TestCanonicalQueryMatchesSDK signs awkward query strings with the SDK and
// verifies them with our canonicalisation.
func TestCanonicalQueryMatchesSDK(t *testing.T) {
	kr, _ := GenerateKeyRing()
	now := time.Now()
	s := testService(t, kr, func() time.Time { return now })
	c := mintFor(t, s, time.Hour)
	for _, q := range []string{
		"Action=GetCallerIdentity&Version=2011-06-15",
		"Version=2011-06-15&Action=GetCallerIdentity&b=2&a=1&a=0",
		"Action=GetCallerIdentity&Version=2011-06-15&sp=a%20b&plus=a%2Bb&u=%C3%A9&t=~-._&empty=",
	} {
		req := httptest.NewRequest(http.MethodGet, "http://sts.test/?"+q, nil)
		sum := sha256.Sum256(nil)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken},
			req, hex.EncodeToString(sum[:]), "sts", "ap-south-1", now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(req, nil); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}
