package ldapauth

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// srv is the slapd shared by this package's tests (nil when unavailable).
var srv *ldaptest.Server

func TestMain(m *testing.M) { os.Exit(ldaptest.RunMain(m, &srv)) }

// baseConfig is a working configuration against srv over ldaps://.
func baseConfig(t testing.TB) Config {
	t.Helper()
	s := ldaptest.Get(t, srv)
	return Config{
		URLs:         []string{s.LDAPSURL},
		CAPEM:        s.CAPEM,
		BindDN:       ldaptest.BindDN,
		BindPassword: ldaptest.BindPassword,
		UserSearch: UserSearch{
			BaseDN:     ldaptest.BaseDN,
			Filter:     "(&(objectClass=inetOrgPerson)(uid={username}))",
			Attributes: []string{"uidNumber"},
		},
		GroupSearch: GroupSearch{
			BaseDN: ldaptest.GroupsDN,
			Nested: true,
		},
	}
}

// syncBuf is a goroutine-safe log sink for canary scans.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newClient(t testing.TB, cfg Config) (*Client, *syncBuf) {
	t.Helper()
	buf := &syncBuf{}
	cfg.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, buf
}
