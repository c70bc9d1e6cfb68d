package sts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4Service    = "sts"
	sigV4Terminator = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
	maxSkew         = 15 * time.Minute
	maxPresignTTL   = 7 * 24 * time.Hour
)

// sigV4Parts are the signature inputs gathered from either form.
type sigV4Parts struct {
	akid, date, region, service, terminator string
	signedHeaders                           []string
	signedHeadersRaw                        string
	signature                               string
	amzDate                                 time.Time
	amzDateRaw                              string
	presigned                               bool
	expires                                 time.Duration
	token                                   string
	tokenPresent                            bool
}

// Authenticate verifies a SigV4-signed request (Authorization header or
// pre-signed query) made with credentials minted by this STS and returns
// the session its token proves. body is the request body as read (for the
// payload hash). Errors are *Error with the AWS codes of STS-SPEC §3:
// MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId,
// ExpiredToken, SignatureDoesNotMatch, RequestExpired. Credentials the
// Config's RevocationChecker reports revoked are refused, once the
// signature has verified, exactly as an unknown token is
// (InvalidClientTokenId), and the refusal is audited.
func (s *Service) Authenticate(r *http.Request, body []byte) (*Session, error) {
	sess, _, err := s.authenticate(r.Context(), "", r, body)
	return sess, err
}

// authenticate is Authenticate within a Query API action (ctx carries the
// request's audit state; action names the refusal of revoked credentials)
// that also returns the region of the signature's credential scope: the
// request's aws:RequestedRegion.
func (s *Service) authenticate(ctx context.Context, action string, r *http.Request, body []byte) (*Session, string, error) {
	p, err := parseSigV4(r)
	if err != nil {
		return nil, "", err
	}
	now := s.now().UTC()
	if err := checkSigV4Time(p, now); err != nil {
		return nil, "", err
	}
	if !p.tokenPresent {
		return nil, "", errInvalidClientToken()
	}
	claims, key, err := s.openSession(p.akid, p.token, now)
	if err != nil {
		return nil, "", err
	}
	payloadHash, err := payloadHash(r, p, body)
	if err != nil {
		return nil, "", err
	}
	canonical := canonicalRequest(r, p, payloadHash)
	scope := p.date + "/" + p.region + "/" + p.service + "/" + p.terminator
	sts := sigV4Algorithm + "\n" + p.amzDateRaw + "\n" + scope + "\n" + hexSHA256([]byte(canonical))
	secret := key.deriveSecret(p.akid)
	kid := newSigningKeyID(secret, p.date, p.region)
	k, cached := s.sigKeys.get(kid)
	if !cached {
		k = signingKey(secret, p.date, p.region, p.service)
	}
	want := hmacSHA256(k, []byte(sts))
	got, err := hex.DecodeString(p.signature)
	if err != nil || !hmac.Equal(want, got) {
		return nil, "", errSignatureMismatch("")
	}
	if !cached {
		s.sigKeys.put(kid, k)
	}
	// Revocation is decided after the signature, on every request (whether
	// or not the signing key came from the cache), so that only the holder
	// of the secret learns that the credentials are revoked.
	if err := s.checkRevoked(ctx, action, claims); err != nil {
		return nil, "", err
	}
	return claims.session(), p.region, nil
}

func parseSigV4(r *http.Request) (*sigV4Parts, error) {
	q := r.URL.Query()
	auths := r.Header.Values("Authorization")
	presigned := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential")
	switch {
	case len(auths) == 0 && !presigned:
		return nil, newError(http.StatusForbidden, "MissingAuthenticationToken", msgMissingAuth)
	case len(auths) > 0 && presigned:
		return nil, errIncompleteSignature("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")
	case len(auths) > 1:
		return nil, errIncompleteSignature("Only one Authorization header is allowed")
	}
	p := &sigV4Parts{presigned: presigned}
	var credential string
	if presigned {
		for _, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"} {
			if len(q[name]) > 1 {
				return nil, errIncompleteSignature("Query parameter " + name + " must be given at most once")
			}
		}
		var missing []string
		for _, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
			if q.Get(name) == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, errIncompleteSignature("AWS query-string parameters must include " + strings.Join(missing, ", ") + ". Re-examine the query-string parameters.")
		}
		if q.Get("X-Amz-Algorithm") != sigV4Algorithm {
			return nil, errIncompleteSignature("Unsupported AWS 'algorithm': only AWS4-HMAC-SHA256 is supported")
		}
		credential = q.Get("X-Amz-Credential")
		p.signedHeadersRaw = q.Get("X-Amz-SignedHeaders")
		p.signature = q.Get("X-Amz-Signature")
		p.amzDateRaw = q.Get("X-Amz-Date")
		// X-Amz-Expires is optional (the SDK's STS presigner omits it):
		// without it the usual 15-minute skew window applies.
		if q.Has("X-Amz-Expires") {
			secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
			if err != nil || secs < 1 || time.Duration(secs)*time.Second > maxPresignTTL {
				return nil, errIncompleteSignature("X-Amz-Expires must be an integer between 1 and 604800")
			}
			p.expires = time.Duration(secs) * time.Second
		}
		p.token, p.tokenPresent = q.Get("X-Amz-Security-Token"), q.Has("X-Amz-Security-Token")
	} else {
		alg, rest, _ := strings.Cut(strings.TrimSpace(auths[0]), " ")
		if alg != sigV4Algorithm {
			return nil, errIncompleteSignature("Unsupported AWS 'algorithm': only AWS4-HMAC-SHA256 is supported")
		}
		fields := map[string]string{}
		for _, part := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				return nil, errIncompleteSignature("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
			}
			if _, dup := fields[k]; dup {
				return nil, errIncompleteSignature("Authorization header parameter " + k + " given twice.")
			}
			fields[k] = v
		}
		var msgs []string
		for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
			if fields[k] == "" {
				msgs = append(msgs, "Authorization header requires '"+k+"' parameter.")
			}
		}
		if len(msgs) > 0 {
			return nil, errIncompleteSignature(strings.Join(msgs, " "))
		}
		credential, p.signedHeadersRaw, p.signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
		dates := r.Header.Values("X-Amz-Date")
		switch {
		case len(dates) > 1:
			return nil, errIncompleteSignature("Only one X-Amz-Date header is allowed")
		case len(dates) == 1:
			p.amzDateRaw = dates[0]
		default:
			return nil, errIncompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		}
		toks := r.Header.Values("X-Amz-Security-Token")
		if len(toks) > 1 {
			return nil, errInvalidClientToken()
		}
		if len(toks) == 1 {
			p.token, p.tokenPresent = toks[0], true
		}
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[0] == "" || scope[2] == "" {
		return nil, errIncompleteSignature("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term")
	}
	p.akid, p.date, p.region, p.service, p.terminator = scope[0], scope[1], scope[2], scope[3], scope[4]
	if p.service != sigV4Service {
		return nil, errSignatureMismatch("Credential should be scoped to correct service: 'sts'. ")
	}
	if p.terminator != sigV4Terminator {
		return nil, errSignatureMismatch("Credential should be scoped with a valid terminator: 'aws4_request', not '" + p.terminator + "'. ")
	}
	t, err := time.Parse(amzDateFormat, p.amzDateRaw)
	if err != nil {
		return nil, errIncompleteSignature("X-Amz-Date must be in the ISO8601 basic format yyyyMMdd'T'HHmmss'Z'")
	}
	p.amzDate = t
	if p.date != p.amzDateRaw[:8] {
		return nil, errSignatureMismatch("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + p.date + "' != '" + p.amzDateRaw[:8] + "', from '" + p.amzDateRaw + "'.")
	}
	if len(p.signature) != 64 {
		return nil, errSignatureMismatch("")
	}
	if err := checkSignedHeaders(r, p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkSignedHeaders parses SignedHeaders and insists that host, and every
// x-amz-* header and Content-Type present on a header-signed request, are signed.
func checkSignedHeaders(r *http.Request, p *sigV4Parts) error {
	names := strings.Split(p.signedHeadersRaw, ";")
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" || n != strings.ToLower(n) || seen[n] || (i > 0 && n < names[i-1]) {
			return errIncompleteSignature("SignedHeaders must be a sorted, lower-case, ';'-separated list of distinct header names")
		}
		seen[n] = true
	}
	p.signedHeaders = names
	if !seen["host"] {
		return errSignatureMismatch("'Host' must be a signed header")
	}
	if p.presigned {
		return nil
	}
	for name := range r.Header {
		ln := strings.ToLower(name)
		if (strings.HasPrefix(ln, "x-amz-") || ln == "content-type") && !seen[ln] {
			return errSignatureMismatch("'" + name + "' must be a signed header")
		}
	}
	return nil
}

func checkSigV4Time(p *sigV4Parts, now time.Time) error {
	if p.amzDate.After(now.Add(maxSkew)) {
		return errSignatureMismatch("Signature not yet current: " + p.amzDateRaw + " is still later than " +
			now.Add(maxSkew).Format(amzDateFormat) + " (" + now.Format(amzDateFormat) + " + 15 min.)")
	}
	if p.presigned && p.expires > 0 {
		if !now.Before(p.amzDate.Add(p.expires)) {
			return newError(http.StatusBadRequest, "RequestExpired", "Request has expired")
		}
		return nil
	}
	if p.amzDate.Before(now.Add(-maxSkew)) {
		return errSignatureMismatch("Signature expired: " + p.amzDateRaw + " is now earlier than " +
			now.Add(-maxSkew).Format(amzDateFormat) + " (" + now.Format(amzDateFormat) + " - 15 min.)")
	}
	return nil
}

// payloadHash is the hex SHA-256 of body: the payload hash of the
// canonical request in both forms, as AWS's STS takes it. A signed
// x-amz-content-sha256 header must equal it. UNSIGNED-PAYLOAD is refused in
// either form, as AWS refuses it outside S3: SDKs presign STS (and every
// service but S3) with the hash of the empty body (botocore, aws-sdk-go-v2,
// the Ruby presigner), and STS bodies are small and hold the action, which
// an unsigned payload would leave open to change.
func payloadHash(r *http.Request, p *sigV4Parts, body []byte) (string, error) {
	sum := hexSHA256(body)
	if vals := r.Header.Values("X-Amz-Content-Sha256"); len(vals) > 0 {
		if len(vals) != 1 || !hmac.Equal([]byte(strings.ToLower(vals[0])), []byte(sum)) {
			return "", errSignatureMismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	return sum, nil
}

// canonicalRequest builds the SigV4 canonical request over exactly the
// headers the client listed.
func canonicalRequest(r *http.Request, p *sigV4Parts, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(awsEscape(path, false))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, p.presigned))
	b.WriteByte('\n')
	for _, name := range p.signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(p.signedHeadersRaw)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func canonicalHeaderValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = r.Header.Values("Content-Length")
		if len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

// canonicalQuery sorts parameters by name then value and encodes them per
// RFC 3986; the pre-signed form leaves out X-Amz-Signature.
func canonicalQuery(raw string, presigned bool) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "\x00invalid"
	}
	if presigned {
		delete(q, "X-Amz-Signature")
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, awsEscape(k, true)+"="+awsEscape(v, true))
		}
	}
	return strings.Join(parts, "&")
}

// awsEscape percent-encodes everything but unreserved characters (and '/'
// unless encodeSep), upper-case hex, as AWS canonicalisation requires.
func awsEscape(s string, encodeSep bool) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !encodeSep) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdig[c>>4])
		b.WriteByte(hexdig[c&15])
	}
	return b.String()
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte(sigV4Terminator))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
