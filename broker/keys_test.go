package broker

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyDirSAMLPair(t *testing.T) {
	dir := t.TempDir()
	if err := InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.SAMLKey == nil || k.SAMLCert == nil || k.SAMLKey.N.BitLen() != 2048 {
		t.Fatalf("SAML pair not loaded: %+v", k)
	}
	cert0, _ := os.ReadFile(filepath.Join(dir, samlCertFile))

	t.Run("old directory without the SAML pair is refused with the fix", func(t *testing.T) {
		old := t.TempDir()
		if err := InitKeyDir(old); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{samlKeyFile, samlCertFile} {
			if err := os.Remove(filepath.Join(old, f)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := LoadKeys(old)
		if err == nil || !strings.Contains(err.Error(), samlKeyFile) || !strings.Contains(err.Error(), "idbroker keys init "+old) {
			t.Fatalf("error %v should name %s and the command", err, samlKeyFile)
		}
		// keys init adds the pair and keeps the existing keys.
		signing0, _ := os.ReadFile(filepath.Join(old, signingKeyFile))
		if err := InitKeyDir(old); err != nil {
			t.Fatal(err)
		}
		signing1, _ := os.ReadFile(filepath.Join(old, signingKeyFile))
		if !bytes.Equal(signing0, signing1) {
			t.Error("keys init replaced an existing key")
		}
		if _, err := LoadKeys(old); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("init keeps an existing pair", func(t *testing.T) {
		if err := InitKeyDir(dir); err != nil {
			t.Fatal(err)
		}
		cert1, _ := os.ReadFile(filepath.Join(dir, samlCertFile))
		if !bytes.Equal(cert0, cert1) {
			t.Error("keys init replaced the SAML certificate")
		}
	})

	t.Run("half a pair", func(t *testing.T) {
		half := t.TempDir()
		if err := InitKeyDir(half); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(half, samlCertFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeys(half); err == nil || !strings.Contains(err.Error(), samlCertFile) {
			t.Fatalf("LoadKeys: %v", err)
		}
		if err := InitKeyDir(half); err == nil {
			t.Fatal("keys init completed half a pair with a certificate for another key")
		}
	})

	t.Run("certificate for another key", func(t *testing.T) {
		other := t.TempDir()
		if err := InitKeyDir(other); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(other, samlCertFile))
		if err := os.WriteFile(filepath.Join(dir, samlCertFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeys(dir); err == nil || !strings.Contains(err.Error(), "does not certify") {
			t.Fatalf("LoadKeys: %v", err)
		}
	})
}
