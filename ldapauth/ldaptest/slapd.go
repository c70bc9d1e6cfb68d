package ldaptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

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
	if err := os.WriteFile(filepath.Join(dir, "ad.schema"), []byte(adSchema), 0o600); err != nil {
		return nil, err
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
	ppolicyModule, ppolicyOverlay := "", ""
	if opts.PasswordPolicy {
		ppolicyModule, ppolicyOverlay = "moduleload ppolicy\n", "overlay ppolicy\n"
	}
	return fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include %[1]s/ad.schema
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
%[7]sTLSCertificateFile %[1]s/cert.pem
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
%[8]saccess to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="%[5]s" read
  by self read
  by * none
`, dir, BaseDN, RootDN, ssha(RootPassword), BindDN, tlsClient, ppolicyModule, ppolicyOverlay)
}

// adSchema defines Active Directory's userAccountControl (with AD's OID),
// so that a test can give an entry (objectClass extensibleObject) the
// attribute an AD account is disabled by. The full msuser.schema cannot be
// loaded: its memberOf collides with the memberof overlay's.
const adSchema = `attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	EQUALITY integerMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
`
