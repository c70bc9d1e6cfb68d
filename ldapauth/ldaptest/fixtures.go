package ldaptest

import (
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

// Directory layout and credentials of the seeded directory.
const (
	BaseDN         = "dc=example,dc=org"
	PeopleDN       = "ou=people," + BaseDN
	ContractorsDN  = "ou=contractors," + BaseDN
	GroupsDN       = "ou=groups," + BaseDN
	ManyGroupsDN   = "ou=many," + GroupsDN
	RootDN         = "cn=admin," + BaseDN
	RootPassword   = "root-secret-CANARY-ldaptest-root"
	BindDN         = "cn=reader," + BaseDN
	BindPassword   = "reader-secret-CANARY-ldaptest-reader"
	ManyGroupCount = 1500
)

// User is a seeded person. Password is its userPassword in clear.
type User struct {
	UID, CN, Mail, Password string
	// OU is the parent entry (PeopleDN unless stated).
	OU string
}

// DN is the user's distinguished name as stored (its uid escaped by
// go-ldap's RFC 4514 value escaping, ldap.EscapeDN).
func (u User) DN() string { return "uid=" + ldap.EscapeDN(u.UID) + "," + u.OU }

// Seeded users. Passwords carry a canary so log scans can find leaks.
var (
	Alice   = User{UID: "alice", CN: "Alice Liddell", Mail: "alice@example.org", Password: "alice-pw-CANARY-1", OU: PeopleDN}
	Bob     = User{UID: "bob", CN: "Bob Builder", Mail: "bob@example.org", Password: "bob-pw-CANARY-2", OU: PeopleDN}
	Carol   = User{UID: "carol", CN: "Carol Danvers", Mail: "carol@example.org", Password: "carol-pw-CANARY-3", OU: PeopleDN}
	Dave    = User{UID: "dave", CN: "Dave Many", Mail: "dave@example.org", Password: "dave-pw-CANARY-4", OU: PeopleDN}
	Admin   = User{UID: "admin", CN: "Administrator", Mail: "admin@example.org", Password: "admin-pw-CANARY-5", OU: PeopleDN}
	Special = User{UID: `o*(x)\y,z`, CN: `Spécial *(\,) Üser`, Mail: "special@example.org", Password: "special-pw-CANARY-6", OU: PeopleDN}
	Jurgen  = User{UID: "jürgen", CN: "Jürgen Müller", Mail: "juergen@example.org", Password: "pässwörd-CANARY-7", OU: PeopleDN}
	// Twin exists twice (people and contractors): a user search for it
	// matches two entries.
	Twin  = User{UID: "twin", CN: "Twin One", Mail: "twin1@example.org", Password: "twin-pw-CANARY-8", OU: PeopleDN}
	Twin2 = User{UID: "twin", CN: "Twin Two", Mail: "twin2@example.org", Password: "twin-pw-CANARY-8", OU: ContractorsDN}
)

// Users lists every seeded user entry.
var Users = []User{Alice, Bob, Carol, Dave, Admin, Special, Jurgen, Twin, Twin2}

// Group names (cn) of the seeded groups, all under GroupsDN.
//
//   - developers (groupOfNames): alice, special — added online, so alice and
//     special carry memberOf.
//   - posixdev (posixGroup): memberUid alice.
//   - auditors (groupOfUniqueNames): uniqueMember carol.
//   - team-a ∋ bob; dept-x ∋ team-a; org-all ∋ dept-x; team-a ∋ org-all (a cycle).
//   - admins (groupOfNames): admin.
//   - Spécial *(\,) Grüppe (groupOfNames): special.
//   - many-0000 … many-1499 under ManyGroupsDN: each ∋ dave (slapadd, no memberOf).
const (
	GroupDevelopers = "developers"
	GroupPosixDev   = "posixdev"
	GroupAuditors   = "auditors"
	GroupTeamA      = "team-a"
	GroupDeptX      = "dept-x"
	GroupOrgAll     = "org-all"
	GroupAdmins     = "admins"
	GroupSpecial    = `Spécial *(\,) Grüppe`
)

// GroupDN returns the DN of a seeded group under GroupsDN.
func GroupDN(cn string) string { return "cn=" + ldap.EscapeDN(cn) + "," + GroupsDN }

// ManyGroupDN returns the DN of bulk group i (0 ≤ i < ManyGroupCount).
func ManyGroupDN(i int) string { return fmt.Sprintf("cn=many-%04d,%s", i, ManyGroupsDN) }
