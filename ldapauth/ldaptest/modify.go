package ldaptest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Changes to the running directory, made as the root DN with ldapmodify
// (what an administrator would do), for tests of what a login sees later.
// A Server shared by several tests should not be changed: start one per
// test (Start) when a test changes the directory.

// Modify applies LDIF change records (each with its changetype) to the
// directory as the root DN.
func (s *Server) Modify(ldif string) error {
	ldapmodify, err := findTool("ldapmodify")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.Dir, "modify-*.ldif")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(ldif); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ldapmodify, "-x", "-H", s.URL, "-D", RootDN, "-y", writePW(s.Dir), "-f", f.Name())
	cmd.Env = append(os.Environ(), "LDAPNOINIT=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ldapmodify: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// RemoveMember takes memberDN out of the groupOfNames groupDN (its member
// attribute; the memberof overlay updates the member's memberOf).
func (s *Server) RemoveMember(groupDN, memberDN string) error {
	var b strings.Builder
	ldifAttr(&b, "dn", groupDN)
	b.WriteString("changetype: modify\ndelete: member\n")
	ldifAttr(&b, "member", memberDN)
	b.WriteString("-\n")
	return s.Modify(b.String())
}

// AddMember puts memberDN into the groupOfNames groupDN.
func (s *Server) AddMember(groupDN, memberDN string) error {
	var b strings.Builder
	ldifAttr(&b, "dn", groupDN)
	b.WriteString("changetype: modify\nadd: member\n")
	ldifAttr(&b, "member", memberDN)
	b.WriteString("-\n")
	return s.Modify(b.String())
}

// Delete removes the entry dn (a leaf).
func (s *Server) Delete(dn string) error {
	var b strings.Builder
	ldifAttr(&b, "dn", dn)
	b.WriteString("changetype: delete\n")
	return s.Modify(b.String())
}

// Lock locks the account dn the way OpenLDAP's password policy does
// permanently (pwdAccountLockedTime 000001010000Z). It needs a server
// started with Options.PasswordPolicy.
func (s *Server) Lock(dn string) error {
	var b strings.Builder
	ldifAttr(&b, "dn", dn)
	b.WriteString("changetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n-\n")
	return s.Modify(b.String())
}

// Disable marks the account dn disabled the way Active Directory does:
// userAccountControl 514 (NORMAL_ACCOUNT | ACCOUNTDISABLE), on an entry
// made an extensibleObject so that it may carry the attribute.
func (s *Server) Disable(dn string) error {
	return s.SetUserAccountControl(dn, 514)
}

// SetUserAccountControl gives the entry dn Active Directory's
// userAccountControl value (replacing any), making it an extensibleObject
// first when it is not one.
func (s *Server) SetUserAccountControl(dn string, value int64) error {
	var b strings.Builder
	ldifAttr(&b, "dn", dn)
	b.WriteString("changetype: modify\nadd: objectClass\nobjectClass: extensibleObject\n-\n")
	// LDAP result 20: the entry is an extensibleObject already.
	if err := s.Modify(b.String()); err != nil && !strings.Contains(err.Error(), "(20)") {
		return err
	}
	b.Reset()
	ldifAttr(&b, "dn", dn)
	fmt.Fprintf(&b, "changetype: modify\nreplace: userAccountControl\nuserAccountControl: %d\n-\n", value)
	return s.Modify(b.String())
}
