// Package ldaptest starts a throwaway OpenLDAP slapd for tests: a temporary
// directory, a free loopback port for ldap:// (StartTLS capable) and one for
// ldaps://, a self-signed certificate with SAN IP:127.0.0.1 generated in Go,
// the core/cosine/inetorgperson/nis schemas, the memberof overlay, an ACL
// under which anonymous clients can read nothing, and a seeded directory
// (see Fixture and the exported user and group names).
//
// Typical use from any package's tests:
//
//	func TestMain(m *testing.M) { os.Exit(ldaptest.RunMain(m, &srv)) }
//
// or per test:
//
//	srv := ldaptest.Start(t) // skips loudly without slapd, fails when CI=true
//
// The server is stopped by its pid (Close), never by name.
package ldaptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// DN is the user's distinguished name as stored (RFC 4514 escaped).
func (u User) DN() string { return "uid=" + escapeDNValue(u.UID) + "," + u.OU }

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
func GroupDN(cn string) string { return "cn=" + escapeDNValue(cn) + "," + GroupsDN }

// ManyGroupDN returns the DN of bulk group i (0 ≤ i < ManyGroupCount).
func ManyGroupDN(i int) string { return fmt.Sprintf("cn=many-%04d,%s", i, ManyGroupsDN) }

// Server is a running slapd.
type Server struct {
	// URL is ldap://127.0.0.1:PORT (plain, StartTLS available).
	URL string
	// LDAPSURL is ldaps://127.0.0.1:TLSPORT.
	LDAPSURL string
	// CAPEM is the self-signed server certificate (trust anchor) in PEM.
	CAPEM []byte
	// CAFile is a file holding CAPEM.
	CAFile string
	// Dir is the temporary directory holding config, data and log.
	Dir string

	// With Options.RequireClientCert: ClientCertFile and ClientKeyFile are
	// a client certificate (PEM) signed by the CA slapd demands, and
	// UntrustedClientCertFile / UntrustedClientKeyFile one signed by
	// another CA, which slapd refuses. Empty otherwise.
	ClientCertFile, ClientKeyFile                   string
	UntrustedClientCertFile, UntrustedClientKeyFile string

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// Env names the variable that, set to "true", turns "slapd not available"
// from a skip into a failure.
const Env = "CI"

// Required reports whether a missing slapd must fail the tests (CI=true).
func Required() bool { return os.Getenv(Env) == "true" }

// Start starts a seeded slapd for tb and stops it in tb.Cleanup. When slapd
// cannot be started the test is skipped with a loud "SLAPD NOT AVAILABLE"
// message, or fails when CI=true.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{})
}

// Unavailable skips tb (or fails it when CI=true) because slapd could not be had.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if Required() {
		tb.Fatalf("SLAPD NOT AVAILABLE and CI=true: %v (run scripts/install-test-deps.sh)", err)
	}
	tb.Skipf("SLAPD NOT AVAILABLE: %v (run scripts/install-test-deps.sh; with CI=true this fails)", err)
}

// RunMain is a TestMain helper: it starts one shared server, stores it in
// *srv (nil when slapd is unavailable and CI is not true, in which case
// tests should call Unavailable themselves), runs m and stops the server.
// With CI=true and no slapd it returns exit code 1 without running tests.
func RunMain(m *testing.M, srv **Server) int {
	s, err := New()
	if err != nil {
		if Required() {
			fmt.Fprintf(os.Stderr, "SLAPD NOT AVAILABLE and CI=true: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "SLAPD NOT AVAILABLE: %v (tests needing it will skip)\n", err)
		StartErr = err
		return m.Run()
	}
	*srv = s
	code := m.Run()
	_ = s.Close()
	return code
}

// StartErr records why RunMain could not start slapd (for test messages).
// It is written once by RunMain before any test runs.
var StartErr error

// Get returns srv or skips/fails tb when RunMain could not start it.
func Get(tb testing.TB, srv *Server) *Server {
	tb.Helper()
	if srv == nil {
		err := StartErr
		if err == nil {
			err = errors.New("not started")
		}
		Unavailable(tb, err)
	}
	return srv
}

// EnvSlapd, when set, names the slapd binary to use (set it to a missing
// path to exercise the "not available" behaviour).
const EnvSlapd = "LDAPTEST_SLAPD"

func findTool(name string) (string, error) {
	if name == "slapd" {
		if p := os.Getenv(EnvSlapd); p != "" {
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("%s=%s: %w", EnvSlapd, p, err)
			}
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/libexec"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found (Debian packages slapd, ldap-utils)", name)
}

// Options change how the server is set up.
type Options struct {
	// RequireClientCert makes slapd demand a client certificate on every
	// TLS connection (ldaps:// and StartTLS): TLSVerifyClient demand, with a
	// test CA whose client certificate is in Server.ClientCertFile. Plain
	// ldap:// without StartTLS stays open (the harness seeds through it).
	RequireClientCert bool
}

// StartWith is Start with options.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := NewWithOptions(opts)
	if err != nil {
		Unavailable(tb, err)
		return nil
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// New starts a seeded slapd. Close stops it and removes its directory.
func New() (*Server, error) { return NewWithOptions(Options{}) }

// NewWithOptions is New with options.
func NewWithOptions(opts Options) (*Server, error) {
	slapd, err := findTool("slapd")
	if err != nil {
		return nil, err
	}
	slapadd, err := findTool("slapadd")
	if err != nil {
		return nil, err
	}
	ldapadd, err := findTool("ldapadd")
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"/etc/ldap/schema/core.schema", "/usr/lib/ldap/back_mdb.la"} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("slapd support file: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "ldaptest-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		return nil, err
	}
	var clientFiles [4]string
	if opts.RequireClientCert {
		if clientFiles, err = writeClientPKI(dir); err != nil {
			return nil, fmt.Errorf("client certificates: %w", err)
		}
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(slapdConf(dir, opts)), 0o600); err != nil {
		return nil, err
	}
	bulk := filepath.Join(dir, "bulk.ldif")
	if err := os.WriteFile(bulk, []byte(bulkLDIF()), 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, slapadd, "-q", "-f", conf, "-l", bulk).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slapadd: %w: %s", err, bytes.TrimSpace(out))
	}

	var s *Server
	for attempt := 0; attempt < 5; attempt++ {
		s, err = startSlapd(slapd, dir, conf)
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	s.CAPEM = certPEM
	s.CAFile = caFile
	s.ClientCertFile, s.ClientKeyFile = clientFiles[0], clientFiles[1]
	s.UntrustedClientCertFile, s.UntrustedClientKeyFile = clientFiles[2], clientFiles[3]

	online := filepath.Join(dir, "online.ldif")
	if err := os.WriteFile(online, []byte(onlineLDIF()), 0o600); err != nil {
		_ = s.Close()
		return nil, err
	}
	cmd := exec.CommandContext(ctx, ldapadd, "-x", "-H", s.URL, "-D", RootDN, "-y", writePW(dir), "-f", online)
	cmd.Env = append(os.Environ(), "LDAPNOINIT=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("ldapadd: %w: %s", err, bytes.TrimSpace(out))
	}
	ok = true
	return s, nil
}

func writePW(dir string) string {
	p := filepath.Join(dir, "rootpw")
	_ = os.WriteFile(p, []byte(RootPassword), 0o600)
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startSlapd(slapd, dir, conf string) (*Server, error) {
	p1, err := freePort()
	if err != nil {
		return nil, err
	}
	p2, err := freePort()
	if err != nil {
		return nil, err
	}
	url := "ldap://127.0.0.1:" + strconv.Itoa(p1)
	ldaps := "ldaps://127.0.0.1:" + strconv.Itoa(p2)
	logf, err := os.Create(filepath.Join(dir, "slapd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(slapd, "-f", conf, "-h", url+"/ "+ldaps+"/", "-d", "0")
	cmd.Stdin = nil
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start slapd: %w", err)
	}
	s := &Server{URL: url, LDAPSURL: ldaps, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "slapd.log"))
			return nil, fmt.Errorf("slapd exited: %v: %s", s.waitErr, bytes.TrimSpace(log))
		default:
		}
		c1, e1 := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p1), 200*time.Millisecond)
		c2, e2 := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p2), 200*time.Millisecond)
		if c1 != nil {
			c1.Close()
		}
		if c2 != nil {
			c2.Close()
		}
		if e1 == nil && e2 == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("slapd did not listen on %s and %s", url, ldaps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Stop stops slapd (by its pid) but keeps its directory, so Restart can
// bring it back with the same data and ports.
func (s *Server) Stop() { s.kill() }

// Restart starts slapd again after Stop, on the same ports and data.
func (s *Server) Restart() error {
	slapd, err := findTool("slapd")
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "slapd.log"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(slapd, "-f", filepath.Join(s.Dir, "slapd.conf"), "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "0")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()
	addr := strings.TrimPrefix(s.URL, "ldap://")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
	}
	return errors.New("slapd did not come back")
}

// Close stops slapd by its pid and removes the temporary directory.
func (s *Server) Close() error {
	s.stopOnce.Do(func() {
		s.kill()
		_ = os.RemoveAll(s.Dir)
	})
	return nil
}

// Log returns slapd's log so far (for failure messages).
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "slapd.log"))
	return string(b)
}

func slapdConf(dir string, opts Options) string {
	tlsClient := ""
	if opts.RequireClientCert {
		tlsClient = "TLSCACertificateFile " + dir + "/client-ca.pem\nTLSVerifyClient demand\n"
	}
	return fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
TLSCertificateFile %[1]s/cert.pem
TLSCertificateKeyFile %[1]s/key.pem
%[6]ssizelimit size.soft=500 size.hard=500 size.prtotal=unlimited
database mdb
maxsize 268435456
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/data
index objectClass eq
index uid,cn,mail eq
index member,uniqueMember,memberUid eq
overlay memberof
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="%[5]s" read
  by self read
  by * none
`, dir, BaseDN, RootDN, ssha(RootPassword), BindDN, tlsClient)
}

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

// escapeDNValue escapes an attribute value for a DN string (RFC 4514).
func escapeDNValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=':
			fmt.Fprintf(&b, "\\%02x", c)
		case (i == 0 && (c == ' ' || c == '#')) || (i == len(v)-1 && c == ' '):
			fmt.Fprintf(&b, "\\%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
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
