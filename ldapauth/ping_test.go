package ldapauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// TestPingAndStats: Ping binds the service account on a pooled connection
// (and leaves it pooled), fails with ErrUnavailable while the directory is
// down and ErrConfiguration for a refused service password, and recovers
// by itself; Stats shows the pool, and Close empties it for good.
func TestPingAndStats(t *testing.T) {
	s := ldaptest.Start(t)
	cfg := baseConfig(t)
	cfg.URLs, cfg.CAPEM = []string{s.LDAPSURL}, s.CAPEM
	cfg.DialTimeout, cfg.RequestTimeout = time.Second, time.Second
	c, _ := newClient(t, cfg)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if st := c.Stats(); st.Idle != 1 || st.InUse != 0 || st.Closed {
		t.Errorf("after a ping: %+v, want one idle connection", st)
	}
	if err := c.Ping(ctx); err != nil || c.Stats().Idle != 1 {
		t.Errorf("a second ping: %v, %+v (the connection is reused)", err, c.Stats())
	}

	s.Stop()
	if err := c.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("directory down: %v, want ErrUnavailable", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("after the restart: %v", err)
	}

	bad := cfg
	bad.BindPassword = "not the password"
	wrong, _ := newClient(t, bad)
	if err := wrong.Ping(ctx); !errors.Is(err, ErrConfiguration) {
		t.Errorf("a refused service bind: %v, want ErrConfiguration", err)
	}
	if st := wrong.Stats(); st.Idle != 0 {
		t.Errorf("a connection whose bind was refused was pooled: %+v", st)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Idle != 0 || !st.Closed {
		t.Errorf("after Close: %+v", st)
	}
	// A login after Close still works, and leaves nothing pooled.
	if err := c.Ping(ctx); err != nil {
		t.Errorf("ping after Close: %v", err)
	}
	if st := c.Stats(); st.Idle != 0 {
		t.Errorf("a connection was pooled after Close: %+v", st)
	}
}
