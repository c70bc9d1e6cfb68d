package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Key file names inside keys.dir.
const (
	signingKeyFile = "broker-signing.pem" // ECDSA P-256 (PKCS#8): signs the broker's JWTs
	cookieKeyFile  = "broker-cookie.bin"  // 32 random bytes: seals cookies and CSRF tokens (not "*.key": the STS key ring owns those names)
	samlKeyFile    = "broker-saml.pem"    // RSA-2048 (PKCS#8): signs the broker's SAML Responses and AuthnRequests, decrypts assertions
	samlCertFile   = "broker-saml.crt"    // self-signed certificate for samlKeyFile (published in SAML metadata)
)

// samlCertLifetime is how long a generated SAML certificate is valid.
const samlCertLifetime = 10 * 365 * 24 * time.Hour

// Keys are the broker's own secrets.
type Keys struct {
	// Signing signs the short-lived JWTs the broker presents to the STS.
	Signing *ecdsa.PrivateKey
	// Cookie seals login state and derives CSRF tokens.
	Cookie []byte
	// SAMLKey and SAMLCert are the broker's SAML key pair: it signs the SAML
	// Responses the broker (as an IdP) gives its own STS, and it is the
	// signing and encryption pair of every upstream SAML service provider.
	SAMLKey  *rsa.PrivateKey
	SAMLCert *x509.Certificate
}

// GenerateKeys makes keys in memory (demo only: a restart forgets them).
func GenerateKeys() (*Keys, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	c := make([]byte, 32)
	if _, err := rand.Read(c); err != nil {
		return nil, fmt.Errorf("generate cookie key: %w", err)
	}
	sk, sc, err := generateSAMLPair()
	if err != nil {
		return nil, err
	}
	return &Keys{Signing: k, Cookie: c, SAMLKey: sk, SAMLCert: sc}, nil
}

// generateSAMLPair makes an RSA-2048 key and a self-signed certificate
// (SAML trusts the certificate by its bytes, not by a CA).
func generateSAMLPair() (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate SAML key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generate SAML certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "idbroker SAML"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(samlCertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("generate SAML certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("generate SAML certificate: %w", err)
	}
	return key, cert, nil
}

// InitKeyDir writes new broker keys into dir, leaving existing ones alone.
func InitKeyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create key dir: %w", err)
	}
	k, err := GenerateKeys()
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Signing)
	if err != nil {
		return fmt.Errorf("encode signing key: %w", err)
	}
	samlDER, err := x509.MarshalPKCS8PrivateKey(k.SAMLKey)
	if err != nil {
		return fmt.Errorf("encode SAML key: %w", err)
	}
	files := map[string][]byte{
		signingKeyFile: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		cookieKeyFile:  k.Cookie,
	}
	// The SAML key and certificate are a pair: write both or neither.
	_, errKey := os.Stat(filepath.Join(dir, samlKeyFile))
	_, errCert := os.Stat(filepath.Join(dir, samlCertFile))
	switch {
	case errors.Is(errKey, os.ErrNotExist) && errors.Is(errCert, os.ErrNotExist):
		files[samlKeyFile] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: samlDER})
		files[samlCertFile] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.SAMLCert.Raw})
	case errors.Is(errKey, os.ErrNotExist) || errors.Is(errCert, os.ErrNotExist):
		return fmt.Errorf("%s holds only one of %s and %s: remove it or add the other", dir, samlKeyFile, samlCertFile)
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// LoadKeys reads the broker keys from dir.
func LoadKeys(dir string) (*Keys, error) {
	pemBytes, err := os.ReadFile(filepath.Join(dir, signingKeyFile))
	if err != nil {
		return nil, fmt.Errorf("read broker signing key (run `idbroker keys init %s`): %w", dir, err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", signingKeyFile)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", signingKeyFile, err)
	}
	sk, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || sk.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: must be an ECDSA P-256 key", signingKeyFile)
	}
	ck, err := os.ReadFile(filepath.Join(dir, cookieKeyFile))
	if err != nil {
		return nil, fmt.Errorf("read broker cookie key: %w", err)
	}
	if len(ck) != 32 {
		return nil, fmt.Errorf("%s: must hold exactly 32 bytes", cookieKeyFile)
	}
	samlKey, samlCert, err := loadSAMLPair(dir)
	if err != nil {
		return nil, err
	}
	return &Keys{Signing: sk, Cookie: ck, SAMLKey: samlKey, SAMLCert: samlCert}, nil
}

// loadSAMLPair reads broker-saml.pem and broker-saml.crt and checks they match.
func loadSAMLPair(dir string) (*rsa.PrivateKey, *x509.Certificate, error) {
	keyPEM, err := os.ReadFile(filepath.Join(dir, samlKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read broker SAML key %s (run `idbroker keys init %s`: it adds the missing files and keeps the others): %w", samlKeyFile, dir, err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, samlCertFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read broker SAML certificate %s (run `idbroker keys init %s`: it adds the missing files and keeps the others): %w", samlCertFile, dir, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("%s: no PEM block", samlKeyFile)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", samlKeyFile, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok || key.N.BitLen() < 2048 {
		return nil, nil, fmt.Errorf("%s: must be an RSA key of at least 2048 bits", samlKeyFile)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s: no CERTIFICATE PEM block", samlCertFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", samlCertFile, err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("%s does not certify the key in %s", samlCertFile, samlKeyFile)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, nil, fmt.Errorf("%s expired on %s: remove both SAML files, run `idbroker keys init %s`, and give the new metadata to your IdPs", samlCertFile, cert.NotAfter.Format(time.DateOnly), dir)
	}
	return key, cert, nil
}
