// Package samltest is an in-process SAML identity provider for tests: a
// crewjam IdentityProvider served over HTTP for real SP-initiated logins
// (Redirect and POST bindings), a direct Response builder signed with
// goxmldsig (assertion, response or both; optional encryption) for negative
// tests, and a minimal browser that follows the auto-post forms.
package samltest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// NewKeyPair returns an RSA-2048 key and a self-signed certificate for it,
// valid from a day ago for ten years.
func NewKeyPair(t testing.TB, commonName string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	return NewKeyPairBits(t, commonName, 2048)
}

// NewKeyPairBits is NewKeyPair with a chosen RSA size.
func NewKeyPairBits(t testing.TB, commonName string, bits int) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatalf("samltest: generate key: %v", err)
	}
	return key, SelfSign(t, key, commonName, time.Now().Add(-24*time.Hour), time.Now().Add(10*365*24*time.Hour))
}

// SelfSign makes a self-signed certificate for key with the given validity.
func SelfSign(t testing.TB, key *rsa.PrivateKey, commonName string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("samltest: create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("samltest: parse certificate: %v", err)
	}
	return cert
}

// CloneCert makes a certificate for key that copies subject, issuer, serial
// and validity of model (SAML Raider's "clone certificate").
func CloneCert(t testing.TB, model *x509.Certificate, key *rsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: model.SerialNumber,
		Subject:      model.Subject,
		Issuer:       model.Issuer,
		NotBefore:    model.NotBefore,
		NotAfter:     model.NotAfter,
		KeyUsage:     model.KeyUsage,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("samltest: clone certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("samltest: parse certificate: %v", err)
	}
	return cert
}

// PEM returns the PEM encodings of key and cert (for sp_key_file/sp_cert_file tests).
func PEM(key *rsa.PrivateKey, cert *x509.Certificate) (keyPEM, certPEM []byte) {
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return keyPEM, certPEM
}
