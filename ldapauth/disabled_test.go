package ldapauth

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// Lookup reports an account the directory disables: Active Directory's
// ACCOUNTDISABLE bit, an OpenLDAP password-policy lock; an enabled account
// (no marker, or userAccountControl without the bit) is not disabled.
func TestLookupDisabled(t *testing.T) {
	s := ldaptest.StartWith(t, ldaptest.Options{PasswordPolicy: true})
	cfg := baseConfig(t)
	cfg.URLs, cfg.CAPEM = []string{s.LDAPSURL}, s.CAPEM
	c, _ := newClient(t, cfg)
	if err := s.Lock(ldaptest.Bob.DN()); err != nil {
		t.Fatal(err)
	}
	if err := s.Disable(ldaptest.Carol.DN()); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserAccountControl(ldaptest.Admin.DN(), 0x10200); err != nil { // NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user ldaptest.User
		want string
	}{
		{ldaptest.Alice, ""},
		{ldaptest.Admin, ""},
		{ldaptest.Bob, "pwdAccountLockedTime"},
		{ldaptest.Carol, "ACCOUNTDISABLE"},
	} {
		t.Run(tc.user.UID, func(t *testing.T) {
			res, err := c.Lookup(context.Background(), tc.user.UID)
			if err != nil {
				t.Fatal(err)
			}
			if (tc.want == "") != (res.Disabled == "") || !strings.Contains(res.Disabled, tc.want) {
				t.Errorf("Disabled = %q, want %q", res.Disabled, tc.want)
			}
		})
	}
}

func TestDisabledFlags(t *testing.T) {
	for _, tc := range []struct {
		uac, locked, want string
	}{
		{"", "", ""},
		{"512", "", ""},
		{"66048", "", ""},                     // 0x10200
		{"514", "", "ACCOUNTDISABLE"},         // 0x202
		{"66050", "", "ACCOUNTDISABLE"},       // 0x10202
		{"-2147483646", "", "ACCOUNTDISABLE"}, // a negative 32-bit value with the bit
		{"0x202", "", "not an integer"},       // fail closed on what cannot be read
		{"512", "20240101000000Z", "pwdAccountLockedTime"},
	} {
		e := ldap.NewEntry("uid=x,dc=example,dc=org", map[string][]string{})
		if tc.uac != "" {
			e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: "userAccountControl", Values: []string{tc.uac}})
		}
		if tc.locked != "" {
			e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: "pwdAccountLockedTime", Values: []string{tc.locked}})
		}
		if got := disabled(e); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("uac %q locked %q: disabled = %q, want %q", tc.uac, tc.locked, got, tc.want)
		}
	}
}
