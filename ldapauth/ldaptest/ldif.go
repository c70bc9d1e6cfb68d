package ldaptest

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

func ssha(pw string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	h := sha1.New()
	h.Write([]byte(pw))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// ldifAttr writes "name: value", base64-encoding values LDIF cannot carry raw.
func ldifAttr(b *strings.Builder, name, value string) {
	safe := value != "" && value[0] != ' ' && value[0] != ':' && value[0] != '<' && value[len(value)-1] != ' '
	for i := 0; i < len(value) && safe; i++ {
		if value[i] < 0x20 || value[i] > 0x7e {
			safe = false
		}
	}
	if safe {
		fmt.Fprintf(b, "%s: %s\n", name, value)
		return
	}
	fmt.Fprintf(b, "%s:: %s\n", name, base64.StdEncoding.EncodeToString([]byte(value)))
}

func userLDIF(b *strings.Builder, u User, uidNumber int) {
	ldifAttr(b, "dn", u.DN())
	b.WriteString("objectClass: inetOrgPerson\nobjectClass: posixAccount\n")
	ldifAttr(b, "uid", u.UID)
	ldifAttr(b, "cn", u.CN)
	ldifAttr(b, "sn", u.CN)
	ldifAttr(b, "mail", u.Mail)
	ldifAttr(b, "displayName", u.CN)
	fmt.Fprintf(b, "uidNumber: %d\ngidNumber: %d\n", uidNumber, uidNumber)
	ldifAttr(b, "homeDirectory", "/home/"+strconv.Itoa(uidNumber))
	ldifAttr(b, "userPassword", ssha(u.Password))
	b.WriteString("\n")
}

func groupOfNames(b *strings.Builder, cn string, members ...string) {
	ldifAttr(b, "dn", GroupDN(cn))
	b.WriteString("objectClass: groupOfNames\n")
	ldifAttr(b, "cn", cn)
	for _, m := range members {
		ldifAttr(b, "member", m)
	}
	b.WriteString("\n")
}

// bulkLDIF is loaded offline with slapadd: structure, users, the groups whose
// members need no memberOf, and the 1,500 bulk groups.
func bulkLDIF() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n", BaseDN)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: %s\n\n", BindDN, ssha(BindPassword))
	for _, ou := range []string{PeopleDN, ContractorsDN, GroupsDN, ManyGroupsDN} {
		name := strings.TrimPrefix(strings.SplitN(ou, ",", 2)[0], "ou=")
		fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: %s\n\n", ou, name)
	}
	for i, u := range Users {
		userLDIF(&b, u, 10000+i)
	}
	fmt.Fprintf(&b, "dn: %s\nobjectClass: posixGroup\ncn: %s\ngidNumber: 5000\nmemberUid: %s\n\n", GroupDN(GroupPosixDev), GroupPosixDev, Alice.UID)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: groupOfUniqueNames\ncn: %s\nuniqueMember: %s\n\n", GroupDN(GroupAuditors), GroupAuditors, Carol.DN())
	for i := 0; i < ManyGroupCount; i++ {
		fmt.Fprintf(&b, "dn: %s\nobjectClass: groupOfNames\ncn: many-%04d\nmember: %s\n\n", ManyGroupDN(i), i, Dave.DN())
	}
	return b.String()
}

// onlineLDIF is added with ldapadd while slapd runs, so the memberof overlay
// fills memberOf on the members.
func onlineLDIF() string {
	var b strings.Builder
	groupOfNames(&b, GroupDevelopers, Alice.DN(), Special.DN())
	groupOfNames(&b, GroupAdmins, Admin.DN())
	groupOfNames(&b, GroupSpecial, Special.DN(), Jurgen.DN())
	// Nested chain with a cycle: bob ∈ team-a ∈ dept-x ∈ org-all ∈ team-a.
	groupOfNames(&b, GroupTeamA, Bob.DN())
	groupOfNames(&b, GroupDeptX, GroupDN(GroupTeamA))
	groupOfNames(&b, GroupOrgAll, GroupDN(GroupDeptX))
	b.WriteString("dn: " + GroupDN(GroupTeamA) + "\nchangetype: modify\nadd: member\nmember: " + GroupDN(GroupOrgAll) + "\n-\n\n")
	// ldapadd treats entries without changetype as adds; the modify above
	// needs -c-free LDIF where every record states its type.
	return strings.ReplaceAll(b.String(), "objectClass: groupOfNames\n", "changetype: add\nobjectClass: groupOfNames\n")
}
