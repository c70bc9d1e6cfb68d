package ldapauth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// A directory that demands a client certificate (TLSVerifyClient demand)
// accepts logins with the configured client_cert_file / client_key_file,
// over ldaps:// and StartTLS, and closes the connection without one or with
// one from another CA: ErrUnavailable (not a wrong password), with a message
// that names the client certificate (under TLS 1.3 the refusal arrives as
// a closed connection on the first read, which alone would say nothing).
func TestClientCertificate(t *testing.T) {
	s := ldaptest.StartWith(t, ldaptest.Options{RequireClientCert: true})
	tests := []struct {
		name     string
		startTLS bool
		cert     string
		key      string
		wantErr  error
		wantMsg  string
	}{
		{"ldaps with client cert", false, s.ClientCertFile, s.ClientKeyFile, nil, ""},
		{"starttls with client cert", true, s.ClientCertFile, s.ClientKeyFile, nil, ""},
		{"ldaps without client cert", false, "", "", ErrUnavailable, hintNoClientCert},
		{"starttls without client cert", true, "", "", ErrUnavailable, hintNoClientCert},
		{"ldaps with an untrusted client cert", false, s.UntrustedClientCertFile, s.UntrustedClientKeyFile, ErrUnavailable, hintClientCert},
		{"starttls with an untrusted client cert", true, s.UntrustedClientCertFile, s.UntrustedClientKeyFile, ErrUnavailable, hintClientCert},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{
				URLs:           []string{s.LDAPSURL},
				CAPEM:          s.CAPEM,
				ClientCertFile: tc.cert,
				ClientKeyFile:  tc.key,
				BindDN:         ldaptest.BindDN,
				BindPassword:   ldaptest.BindPassword,
				UserSearch:     UserSearch{BaseDN: ldaptest.PeopleDN},
			}
			if tc.startTLS {
				cfg.URLs = []string{s.URL}
				cfg.StartTLS = true
			}
			c, logs := newClient(t, cfg)
			res, err := c.Authenticate(context.Background(), ldaptest.Alice.UID, ldaptest.Alice.Password)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if res.Username != ldaptest.Alice.UID {
					t.Fatalf("username %q", res.Username)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("err = %v, want %v (and not a wrong password)", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("the error does not say %q: %v", tc.wantMsg, err)
			}
			if strings.Contains(logs.String(), "CANARY") || strings.Contains(err.Error(), "CANARY") {
				t.Error("secret leaked")
			}
		})
	}
}

// A client certificate and key that do not load are a configuration error
// naming the key, found by New before any connection.
func TestClientCertificateFilesRefused(t *testing.T) {
	s := ldaptest.StartWith(t, ldaptest.Options{RequireClientCert: true})
	for _, tc := range []struct{ name, cert, key string }{
		{"missing file", s.ClientCertFile + ".missing", s.ClientKeyFile},
		{"key of another certificate", s.ClientCertFile, s.UntrustedClientKeyFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{
				URLs: []string{s.LDAPSURL}, CAPEM: s.CAPEM,
				ClientCertFile: tc.cert, ClientKeyFile: tc.key,
				BindDN: ldaptest.BindDN, BindPassword: ldaptest.BindPassword,
				UserSearch: UserSearch{BaseDN: ldaptest.PeopleDN},
			})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "client_cert_file" {
				t.Fatalf("err = %v, want a client_cert_file FieldError", err)
			}
		})
	}
}
