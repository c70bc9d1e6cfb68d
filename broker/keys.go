package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Key file names inside keys.dir.
const (
	signingKeyFile = "broker-signing.pem" // ECDSA P-256 (PKCS#8): signs the broker's JWTs
	cookieKeyFile  = "broker-cookie.key"  // 32 random bytes: seals cookies and CSRF tokens
)

// Keys are the broker's own secrets.
type Keys struct {
	// Signing signs the short-lived JWTs the broker presents to the STS.
	Signing *ecdsa.PrivateKey
	// Cookie seals login state and derives CSRF tokens.
	Cookie []byte
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
	return &Keys{Signing: k, Cookie: c}, nil
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
	files := map[string][]byte{
		signingKeyFile: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		cookieKeyFile:  k.Cookie,
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
	return &Keys{Signing: sk, Cookie: ck}, nil
}
