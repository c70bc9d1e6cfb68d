package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idbroker/idbroker/internal/loopback"
)

// floor is the bare server a flow is compared with: plain net/http doing
// only the work no implementation of the flow can avoid.
//
//	web-identity     verify one RS256 token (iss, aud, exp), mint: random
//	                 key id, HMAC-derived secret, AES-GCM-sealed session token
//	caller-identity  open the AES-GCM session token, derive the secret and
//	                 the SigV4 key (no cache), check one signature
//	api-login        one bcrypt comparison at the bench cost, then mint
type floor struct {
	issuer  string
	pub     *rsa.PublicKey
	aead    cipher.AEAD
	macKey  []byte
	account string
	roleARN string
	hash    []byte // bcrypt hash of the bench user's password
	pass    string
	now     func() time.Time
	ldap    *ldapFloor // nil: no directory
	saml    *floorSAML // nil: no SAML IdP
}

// floorClaims mirrors the fields the real STS seals into a session token.
type floorClaims struct {
	AccessKeyID string `json:"k"`
	Account     string `json:"a"`
	RoleARN     string `json:"r"`
	RoleID      string `json:"ri"`
	SessionName string `json:"s"`
	IssuedAt    int64  `json:"iat"`
	Expiry      int64  `json:"exp"`
	Provider    string `json:"pv,omitempty"`
}

func newFloor(issuerURL string, pub *rsa.PublicKey, bcryptHash []byte, password string) (*floor, error) {
	key := make([]byte, 32)
	mac := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := rand.Read(mac); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &floor{
		issuer: issuerURL, pub: pub, aead: aead, macKey: mac,
		account: benchAccount, roleARN: "arn:aws:iam::" + benchAccount + ":role/" + benchRole,
		hash: bcryptHash, pass: password, now: time.Now,
	}, nil
}

// ServeHTTP dispatches like the real server: the Query API on POST /, the
// JSON credential API on /api/v1/credentials.
func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
	if err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/api/v1/credentials" {
		f.apiLogin(w, body)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		stsError(w, http.StatusNotFound, "MalformedQueryString")
		return
	}
	switch form.Get("Action") {
	case "AssumeRoleWithWebIdentity":
		f.webIdentity(w, form)
	case "GetCallerIdentity":
		f.callerIdentity(w, r, body)
	case "AssumeRoleWithLDAPIdentity":
		f.serveLDAP(w, form)
	case "AssumeRoleWithSAML":
		f.serveSAML(w, form)
	default:
		stsError(w, http.StatusBadRequest, "InvalidAction")
	}
}

func stsError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "<ErrorResponse><Error><Code>"+code+"</Code></Error></ErrorResponse>")
}

var errFloorToken = errors.New("invalid token")

// verifyRS256 checks signature, iss, aud and exp of a compact JWS.
func (f *floor) verifyRS256(tok string) (sub string, err error) {
	h, rest, ok := strings.Cut(tok, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return "", errFloorToken
	}
	hb, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", errFloorToken
	}
	var hdr struct{ Alg string }
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return "", errFloorToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", errFloorToken
	}
	sum := sha256.Sum256([]byte(tok[:len(h)+1+len(p)]))
	if rsa.VerifyPKCS1v15(f.pub, crypto.SHA256, sum[:], sig) != nil {
		return "", errFloorToken
	}
	pb, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return "", errFloorToken
	}
	var c struct {
		Iss, Sub, Aud string
		Exp           int64
	}
	if json.Unmarshal(pb, &c) != nil || c.Iss != f.issuer || c.Aud != benchAudience || c.Sub == "" || f.now().Unix() >= c.Exp {
		return "", errFloorToken
	}
	return c.Sub, nil
}

// mint makes credentials the way the real STS does, minus everything
// optional: a random key id, an HMAC-derived secret, a sealed token.
func (f *floor) mint(session string) (akid, secret, token string, exp time.Time, err error) {
	var kb [10]byte
	if _, err = rand.Read(kb[:]); err != nil {
		return
	}
	akid = "ASIA" + base32.StdEncoding.EncodeToString(kb[:])
	now := f.now().UTC().Truncate(time.Second)
	exp = now.Add(time.Hour)
	plain, err := json.Marshal(floorClaims{
		AccessKeyID: akid, Account: f.account, RoleARN: f.roleARN, RoleID: "AROAFLOOR",
		SessionName: session, IssuedAt: now.Unix(), Expiry: exp.Unix(), Provider: f.issuer,
	})
	if err != nil {
		return
	}
	out := make([]byte, 12, 12+len(plain)+16)
	if _, err = rand.Read(out); err != nil {
		return
	}
	out = f.aead.Seal(out, out[:12], plain, nil)
	return akid, f.secret(akid), base64.RawURLEncoding.EncodeToString(out), exp, nil
}

func (f *floor) secret(akid string) string {
	return base64.StdEncoding.EncodeToString(hmacSum(f.macKey, akid))[:40]
}

func (f *floor) open(token string) (*floorClaims, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 12+16 {
		return nil, errFloorToken
	}
	plain, err := f.aead.Open(nil, raw[:12], raw[12:], nil)
	if err != nil {
		return nil, errFloorToken
	}
	var c floorClaims
	if err := json.Unmarshal(plain, &c); err != nil {
		return nil, errFloorToken
	}
	return &c, nil
}

func (f *floor) webIdentity(w http.ResponseWriter, form url.Values) {
	if _, err := f.verifyRS256(form.Get("WebIdentityToken")); err != nil {
		stsError(w, http.StatusBadRequest, "InvalidIdentityToken")
		return
	}
	f.writeCredentials(w, "AssumeRoleWithWebIdentity", form.Get("RoleSessionName"))
}

// writeCredentials mints and writes the result of a credential action.
func (f *floor) writeCredentials(w http.ResponseWriter, op, session string) {
	akid, secret, token, exp, err := f.mint(session)
	if err != nil {
		stsError(w, http.StatusInternalServerError, "InternalFailure")
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, `<`+op+`Response><`+op+`Result><Credentials><AccessKeyId>`+
		akid+`</AccessKeyId><SecretAccessKey>`+secret+`</SecretAccessKey><SessionToken>`+token+
		`</SessionToken><Expiration>`+exp.Format(time.RFC3339)+`</Expiration></Credentials></`+op+`Result></`+op+`Response>`)
}

// callerIdentity checks the SigV4 signature of a header-signed request.
func (f *floor) callerIdentity(w http.ResponseWriter, r *http.Request, body []byte) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		stsError(w, http.StatusForbidden, "MissingAuthenticationToken")
		return
	}
	var credential, signed, sig string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		}
	}
	scope := strings.SplitN(credential, "/", 5)
	if len(scope) != 5 {
		stsError(w, http.StatusBadRequest, "IncompleteSignature")
		return
	}
	c, err := f.open(r.Header.Get("X-Amz-Security-Token"))
	if err != nil || c.AccessKeyID != scope[0] {
		stsError(w, http.StatusForbidden, "InvalidClientTokenId")
		return
	}
	amzDate := r.Header.Get("X-Amz-Date")
	var canon strings.Builder
	canon.WriteString(r.Method + "\n/\n\n")
	for _, h := range strings.Split(signed, ";") {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canon.WriteString(h + ":" + v + "\n")
	}
	ph := sha256.Sum256(body)
	canon.WriteString("\n" + signed + "\n" + hex.EncodeToString(ph[:]))
	ch := sha256.Sum256([]byte(canon.String()))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(ch[:])
	key := sigV4Key(f.secret(c.AccessKeyID), scope[1], scope[2], scope[3])
	want := hex.EncodeToString(hmacSum(key, toSign))
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		stsError(w, http.StatusForbidden, "SignatureDoesNotMatch")
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:sts::`+c.Account+
		`:assumed-role/`+benchRole+`/`+c.SessionName+`</Arn><UserId>`+c.RoleID+`:`+c.SessionName+
		`</UserId><Account>`+c.Account+`</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)
}

// apiLogin is the JSON credential API: one bcrypt comparison, then mint.
func (f *floor) apiLogin(w http.ResponseWriter, body []byte) {
	var req struct{ Provider, Username, Password, Role string }
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, `{"error":{"code":"InvalidRequest"}}`, http.StatusBadRequest)
		return
	}
	if req.Username != benchUser || bcrypt.CompareHashAndPassword(f.hash, []byte(req.Password)) != nil {
		http.Error(w, `{"error":{"code":"InvalidCredentials"}}`, http.StatusUnauthorized)
		return
	}
	akid, secret, token, exp, err := f.mint(req.Username)
	if err != nil {
		http.Error(w, `{"error":{"code":"InternalFailure"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]any{
		"Version": 1, "AccessKeyId": akid, "SecretAccessKey": secret, "SessionToken": token,
		"Expiration": exp.Format(time.RFC3339), "RoleArn": f.roleARN,
	})
	_, _ = w.Write(b.Bytes())
}

// fetchJWKSKey reads the issuer's RSA key once (bounded in time).
func fetchJWKSKey(ctx context.Context, issuerURL string) (*rsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuerURL+"/keys", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	doc, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return rsaPublicFromJWKS(doc)
}

// serveFloor is the `floor` subcommand: it prints its address on stdout
// and serves until ctx ends.
func serveFloor(ctx context.Context, args floorArgs, stdout io.Writer) error {
	if !loopback.Addr(args.listen) {
		return fmt.Errorf("floor: %s is not a loopback address", args.listen)
	}
	pub, err := fetchJWKSKey(ctx, args.issuer)
	if err != nil {
		return err
	}
	f, err := newFloor(args.issuer, pub, []byte(args.bcryptHash), benchPassword)
	if err != nil {
		return err
	}
	if args.ldapURL != "" {
		if f.ldap, err = newLDAPFloor(ldapDir{URL: args.ldapURL, CAFile: args.ldapCAFile}); err != nil {
			return err
		}
	}
	if args.samlCert != "" {
		if f.saml, err = loadFloorSAML(args.samlCert); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", args.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(stdout, "listening", ln.Addr().String())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
