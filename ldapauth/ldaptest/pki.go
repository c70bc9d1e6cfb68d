package ldaptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// writeClientPKI writes client-ca.pem (the CA slapd demands), a client
// certificate and key it signed, and a certificate and key signed by
// another CA. It returns the paths of cert, key, untrusted cert, untrusted
// key.
func writeClientPKI(dir string) ([4]string, error) {
	var out [4]string
	ca, caKey, err := newCA("ldaptest client CA")
	if err != nil {
		return out, err
	}
	other, otherKey, err := newCA("ldaptest untrusted client CA")
	if err != nil {
		return out, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	if err := os.WriteFile(filepath.Join(dir, "client-ca.pem"), caPEM, 0o600); err != nil {
		return out, err
	}
	for i, signer := range []struct {
		cert *x509.Certificate
		key  *ecdsa.PrivateKey
		name string
	}{{ca, caKey, "client"}, {other, otherKey, "untrusted-client"}} {
		certPEM, keyPEM, err := clientCert(signer.cert, signer.key, "idbroker test client")
		if err != nil {
			return out, err
		}
		out[2*i] = filepath.Join(dir, signer.name+".pem")
		out[2*i+1] = filepath.Join(dir, signer.name+"-key.pem")
		if err := os.WriteFile(out[2*i], certPEM, 0o600); err != nil {
			return out, err
		}
		if err := os.WriteFile(out[2*i+1], keyPEM, 0o600); err != nil {
			return out, err
		}
	}
	return out, nil
}

// issue makes a P-256 key and a random serial number for tmpl, sets a
// validity from an hour ago to a day from now, and signs it with parent and
// parentKey, or with the new key itself when parent is nil. It returns the
// parsed certificate and its key.
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	t := *tmpl
	t.SerialNumber = serial
	t.NotBefore, t.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = &t, key
	}
	der, err := x509.CreateCertificate(rand.Reader, &t, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// pemPair encodes a certificate and its key (PKCS #8) as PEM.
func pemPair(cert *x509.Certificate, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// newCA makes a self-signed CA certificate.
func newCA(cn string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	return issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, nil)
}

// clientCert makes a client-authentication certificate signed by ca.
func clientCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string) (certPEM, keyPEM []byte, err error) {
	cert, key, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	if err != nil {
		return nil, nil, err
	}
	return pemPair(cert, key)
}

// selfSigned makes slapd's self-signed server certificate (127.0.0.1 and
// localhost), which is also the CA clients trust.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	cert, key, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "ldaptest slapd"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	return pemPair(cert, key)
}
