package ldap

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
	"github.com/idbroker/idbroker/providers"
)

// The client_cert_file / client_key_file keys reach the TLS client: a
// directory that demands a client certificate serves logins with them, and
// without them the login is "unavailable" (never a wrong password) with a
// message naming the keys to set.
func TestClientCertificateKeys(t *testing.T) {
	s := ldaptest.StartWith(t, ldaptest.Options{RequireClientCert: true})
	for _, tc := range []struct {
		name    string
		extra   string
		wantErr error
	}{
		{"with client certificate", "client_cert_file: " + s.ClientCertFile + "\nclient_key_file: " + s.ClientKeyFile + "\n", nil},
		{"without", "", providers.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New("corp", decode(t, blockYAML(s)+tc.extra), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			id, err := p.Login(context.Background(), ldaptest.Alice.UID, ldaptest.Alice.Password)
			if tc.wantErr == nil {
				if err != nil || id.Username != ldaptest.Alice.UID {
					t.Fatalf("Login = %+v, %v", id, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || errors.Is(err, providers.ErrInvalidCredentials) || !strings.Contains(err.Error(), "client_cert_file") {
				t.Fatalf("err = %v, want %v naming client_cert_file", err, tc.wantErr)
			}
		})
	}
}
