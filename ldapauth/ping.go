package ldapauth

import (
	"context"

	"github.com/go-ldap/ldap/v3"
)

// Ping checks that the directory answers the service account, for health
// checks: a pooled connection (dialled when none is idle) is bound again as
// the service account, so a changed bind password or a directory that went
// away shows at once; with anonymous searches the root DSE is read
// instead. The connection returns to the pool afterwards (or is closed when
// the bind failed). Errors wrap ErrUnavailable or ErrConfiguration.
func (c *Client) Ping(ctx context.Context) error {
	err := c.withConn(ctx, forService, func(cn *conn) error {
		var err error
		if c.pool.anon {
			err = cn.do(ctx, c.cfg.RequestTimeout, func(l *ldap.Conn) error {
				_, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
				return err
			})
			err = classify("root DSE read", err)
		} else {
			err = c.pool.serviceBind(ctx, cn, c.cfg.RequestTimeout)
		}
		if err != nil {
			// Whatever state the bind left it in, it is not pooled.
			cn.broken = true
		}
		return err
	})
	return err
}

// PoolStats is what a Client's connection pool holds.
type PoolStats struct {
	// Idle connections wait in the pool; InUse are lent out (or being
	// dialled).
	Idle, InUse int
	// Closed: Close was called; connections returned from now on are
	// closed, not pooled.
	Closed bool
}

// Stats returns the pool's current state.
func (c *Client) Stats() PoolStats {
	p := c.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Idle: len(p.idle), InUse: len(p.sem), Closed: p.closed}
}
