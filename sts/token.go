package sts

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// Session-token wire format, base64url without padding:
//
//	byte 0      version (1, 2, 3 or 4)
//	byte 1      n = length of the key id
//	bytes 2..   key id (n bytes, ASCII)           } together the AAD
//	next 12     AES-GCM nonce
//	rest        AES-256-GCM ciphertext of the claims, with tag
//
// Version 4, which seal writes, holds the compact binary encoding of
// tokenClaims (claimscodec.go) including the login session id and the
// ancestry of chained credentials, which revocation needs, and when the
// session's multi-factor authentication happened (aws:MultiFactorAuthAge).
// Version 3 holds the same encoding without the MFA time, version 2
// without the session id and ancestry either, and version 1 the JSON of
// tokenClaims without any of them; all are still opened, so that tokens
// sealed before an upgrade stay valid until they expire (12 hours at most):
// a version 1 or 2 token has no session id and no ancestry, so only a
// revocation of its role or of its own access key reaches it, and a token
// before version 4 has no MFA time (no replica sealed one with MFA). No
// replica seals them any more, so their number only shrinks. The key id travels in the clear (so the verifier
// knows which key to use) but is authenticated as additional data together
// with the version byte, so a token cannot be re-labelled to another
// version.
const (
	tokenVersion1 = 1
	tokenVersion2 = 2
	tokenVersion3 = 3
	tokenVersion4 = 4
	// maxSessionTokenLen caps the encoded token before any parsing (THREATS STS-23).
	maxSessionTokenLen = 16 << 10
)

// tokenClaims is the sealed content of a session token.
type tokenClaims struct {
	AccessKeyID       string            `json:"k"`
	Account           string            `json:"a"`
	RoleARN           string            `json:"r"`
	RoleID            string            `json:"ri"`
	SessionName       string            `json:"s"`
	SourceIdentity    string            `json:"si,omitempty"`
	Policy            string            `json:"p,omitempty"`
	PolicyARNs        []string          `json:"pa,omitempty"`
	Tags              map[string]string `json:"t,omitempty"`
	TransitiveTagKeys []string          `json:"tt,omitempty"`
	IssuedAt          int64             `json:"iat"`
	Expiry            int64             `json:"exp"`
	Chained           bool              `json:"c,omitempty"`
	Provider          string            `json:"pv,omitempty"`
	MFA               bool              `json:"m,omitempty"`
	// Federated are the provider condition keys kept for later requests
	// (saml:sub, saml:sub_type, saml:namequalifier; <oidc host>:sub, :aud, :amr).
	Federated map[string][]string `json:"fk,omitempty"`
	// SessionID and the ancestry (ParentAccessKeyIDs, ParentRoleARNs,
	// ParentIssuedAt in Unix seconds): see Session. Only version 3 tokens
	// carry them; the JSON names are never written.
	SessionID          string   `json:"-"`
	ParentAccessKeyIDs []string `json:"-"`
	ParentRoleARNs     []string `json:"-"`
	ParentIssuedAt     []int64  `json:"-"`
	// MFAAuthTime is when the session's multi-factor authentication
	// happened (Unix seconds; 0 without MFA, or for a token sealed before
	// version 4). Only version 4 tokens carry it.
	MFAAuthTime int64 `json:"-"`
}

var errBadToken = errors.New("sts: invalid session token")

// newAccessKeyID returns "ASIA" + 16 upper-case base32 characters.
func newAccessKeyID() (string, error) {
	var b [10]byte // 80 bits = 16 base32 characters, no padding
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sts: access key id: %w", err)
	}
	return "ASIA" + base32.StdEncoding.EncodeToString(b[:]), nil
}

// deriveSecret computes the 40-character secret access key of akid under k:
// the first 40 characters of the standard base64 of HMAC-SHA256(secret, akid).
func (k *ringKey) deriveSecret(akid string) string {
	var m hash.Hash
	if c, ok := k.secretMAC.(hash.Cloner); ok {
		if cl, err := c.Clone(); err == nil {
			m = cl
		}
	}
	if m == nil { // a MAC that cannot be cloned: key it again
		m = hmac.New(sha256.New, k.secret)
	}
	m.Write([]byte(akid))
	var sum [sha256.Size]byte
	var b64 [44]byte // base64 of 32 bytes
	base64.StdEncoding.Encode(b64[:], m.Sum(sum[:0]))
	return string(b64[:40])
}

func tokenAAD(version byte, kid string, extra int) []byte {
	aad := make([]byte, 0, 2+len(kid)+extra)
	aad = append(aad, version, byte(len(kid)))
	return append(aad, kid...)
}

// tokenTooLargeError: the sealed session token would be longer than
// maxSessionTokenLen, so it could never be presented back (Authenticate
// refuses such a token unread) and is not issued.
type tokenTooLargeError struct{ size int }

func (e *tokenTooLargeError) Error() string {
	return fmt.Sprintf("sts: sealed session token of %d bytes, limit %d", e.size, maxSessionTokenLen)
}

// seal encrypts c under k into a (version 4) session token, or refuses
// with a *tokenTooLargeError.
func (k *ringKey) seal(c *tokenClaims) (string, error) {
	plain, err := c.appendBinary(make([]byte, 0, 256))
	if err != nil {
		return "", fmt.Errorf("sts: seal session token: %w", err)
	}
	tok, err := k.sealPlain(tokenVersion4, plain)
	if err != nil {
		return "", err
	}
	if len(tok) > maxSessionTokenLen {
		return "", &tokenTooLargeError{size: len(tok)}
	}
	return tok, nil
}

func (k *ringKey) sealPlain(version byte, plain []byte) (string, error) {
	ns := k.aead.NonceSize()
	out := tokenAAD(version, k.id, ns+len(plain)+k.aead.Overhead())
	out = out[:len(out)+ns]
	nonce := out[2+len(k.id):]
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sts: seal session token: %w", err)
	}
	out = k.aead.Seal(out, nonce, plain, out[:2+len(k.id)])
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// openToken authenticates and decrypts a session token. It returns the key
// that sealed it (for secret derivation). Every failure is errBadToken.
func (k *KeyRing) openToken(tok string) (*tokenClaims, *ringKey, error) {
	if len(tok) == 0 || len(tok) > maxSessionTokenLen {
		return nil, nil, errBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) < 2 || raw[0] < tokenVersion1 || raw[0] > tokenVersion4 {
		return nil, nil, errBadToken
	}
	n := int(raw[1])
	if len(raw) < 2+n {
		return nil, nil, errBadToken
	}
	rk := k.key(string(raw[2 : 2+n]))
	if rk == nil {
		return nil, nil, errBadToken
	}
	rest := raw[2+n:]
	ns := rk.aead.NonceSize()
	if len(rest) < ns+rk.aead.Overhead() {
		return nil, nil, errBadToken
	}
	// Decrypt in place: raw is ours.
	plain, err := rk.aead.Open(rest[ns:ns], rest[:ns], rest[ns:], raw[:2+n])
	if err != nil {
		return nil, nil, errBadToken
	}
	var c tokenClaims
	if raw[0] == tokenVersion1 {
		err = json.Unmarshal(plain, &c)
	} else {
		err = c.decodeBinary(plain, raw[0])
	}
	if err != nil || c.AccessKeyID == "" || c.Expiry == 0 {
		return nil, nil, errBadToken
	}
	return &c, rk, nil
}

// session converts sealed claims into the public Session.
func (c *tokenClaims) session() *Session {
	return &Session{
		AccessKeyID:        c.AccessKeyID,
		Account:            c.Account,
		RoleARN:            c.RoleARN,
		RoleName:           awsspec.RoleNameFromARN(c.RoleARN),
		RoleID:             c.RoleID,
		SessionName:        c.SessionName,
		SourceIdentity:     c.SourceIdentity,
		Tags:               c.Tags,
		TransitiveTagKeys:  c.TransitiveTagKeys,
		Policy:             c.Policy,
		PolicyARNs:         c.PolicyARNs,
		IssuedAt:           time.Unix(c.IssuedAt, 0).UTC(),
		Expiration:         time.Unix(c.Expiry, 0).UTC(),
		Chained:            c.Chained,
		MFA:                c.MFA,
		MFAAuthTime:        unixTime(c.MFAAuthTime),
		Provider:           c.Provider,
		FederatedKeys:      c.Federated,
		SessionID:          c.SessionID,
		ParentAccessKeyIDs: c.ParentAccessKeyIDs,
		ParentRoleARNs:     c.ParentRoleARNs,
		ParentIssuedAt:     unixTimes(c.ParentIssuedAt),
	}
}

// unixTimes converts Unix seconds to times (nil for none).
func unixTimes(secs []int64) []time.Time {
	if len(secs) == 0 {
		return nil
	}
	out := make([]time.Time, len(secs))
	for i, v := range secs {
		out[i] = time.Unix(v, 0).UTC()
	}
	return out
}

// unixTime converts Unix seconds to a time, 0 to the zero time.
func unixTime(secs int64) time.Time {
	if secs == 0 {
		return time.Time{}
	}
	return time.Unix(secs, 0).UTC()
}

// roleID derives the role's unique id ("AROA" + 17 upper-case alphanumerics)
// from the account and role ARN, so every replica computes the same id.
func roleID(account, roleARN string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	sum := sha256.Sum256([]byte("idbroker role id\x00" + account + "\x00" + roleARN))
	out := make([]byte, 0, 21)
	out = append(out, "AROA"...)
	for i := 0; i < 17; i++ {
		out = append(out, alphabet[int(sum[i])%len(alphabet)])
	}
	return string(out)
}
