package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// A login is two steps, so that a caller can decide between them whether
// the account may be tried at all (a per-account lock-out): FindAccount
// finds the entry a username names with the service account, and
// AuthenticateAccount tries the password on it with a user bind.
// Authenticate is the two in a row.

// Account is the directory entry a username names, as FindAccount found
// it. The zero Account names no entry.
type Account struct {
	client *Client
	// entry is nil when no entry matched the username.
	entry *ldap.Entry
	// deadline ends the login: one LoginTimeout from FindAccount, so that
	// the two steps together are bounded as one login is.
	deadline time.Time
}

// Key is the account's canonical key for per-account accounting (see
// AccountKey), or "" when no entry matched the username.
func (a Account) Key() string {
	if a.entry == nil {
		return ""
	}
	return AccountKey(a.entry.DN)
}

// AccountKey is the canonical key of an entry for per-account accounting
// (such as brute-force counters): its DN normalised and ASCII case-folded,
// whatever the case-folding setting, so that every name a user filter
// accepts for one entry (uid, mail, their case variants) shares one key. It
// is the raw DN when that cannot be parsed.
func AccountKey(rawDN string) string {
	if dn, err := NormalizeDN(rawDN, true); err == nil {
		return dn
	}
	return rawDN
}

// Authenticate checks username and password and returns the user's entry
// and groups: FindAccount then AuthenticateAccount, under one LoginTimeout.
// Unknown users, wrong or empty passwords and impossible usernames all
// return ErrInvalidCredentials, after similar work (an unknown user costs a
// dummy bind, like a wrong password costs a real one). An empty password is
// refused before anything is sent, as AuthenticateAccount would refuse it
// after the search.
func (c *Client) Authenticate(ctx context.Context, username, password string) (*Result, error) {
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	acct := c.newAccount()
	ctx, cancel := context.WithDeadline(ctx, acct.deadline)
	defer cancel()
	if err := c.findAccount(ctx, &acct, username); err != nil {
		return nil, err
	}
	return c.authenticateAccount(ctx, acct, password)
}

// FindAccount finds the entry username names with the service account (the
// user search: filter escaping, exactly one entry). A username with no
// entry is not an error: the Account names none (Key ""), and
// AuthenticateAccount refuses it after a dummy bind. An impossible username
// returns ErrInvalidCredentials; a directory that cannot be used,
// ErrUnavailable or ErrConfiguration.
func (c *Client) FindAccount(ctx context.Context, username string) (Account, error) {
	acct := c.newAccount()
	ctx, cancel := context.WithDeadline(ctx, acct.deadline)
	defer cancel()
	if err := c.findAccount(ctx, &acct, username); err != nil {
		return Account{}, err
	}
	return acct, nil
}

// AuthenticateAccount tries password on an account FindAccount returned
// and returns the user's entry and groups. It never sends an empty password
// (a bind with one is an unauthenticated bind, which servers may accept):
// that is ErrInvalidCredentials before any bind. An account without an
// entry is refused with ErrInvalidCredentials after a dummy bind, so that it
// costs what a wrong password costs. An account found by another Client is
// a programming error (ErrConfiguration).
func (c *Client) AuthenticateAccount(ctx context.Context, acct Account, password string) (*Result, error) {
	if acct.client != c {
		return nil, fmt.Errorf("ldapauth: the account was not found by this client: %w", ErrConfiguration)
	}
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithDeadline(ctx, acct.deadline)
	defer cancel()
	return c.authenticateAccount(ctx, acct, password)
}

// newAccount starts a login: its deadline is one LoginTimeout from now.
func (c *Client) newAccount() Account {
	return Account{client: c, deadline: time.Now().Add(c.cfg.LoginTimeout)}
}

// findAccount is FindAccount under the caller's deadline: it sets
// acct.entry when the username names one.
func (c *Client) findAccount(ctx context.Context, acct *Account, username string) error {
	entry, err := c.userEntry(ctx, username)
	switch {
	case errors.Is(err, errNoSuchUser):
		return nil
	case err != nil:
		return err
	}
	acct.entry = entry
	return nil
}

// authenticateAccount is AuthenticateAccount under the caller's deadline,
// for a non-empty password.
func (c *Client) authenticateAccount(ctx context.Context, acct Account, password string) (*Result, error) {
	if acct.entry == nil {
		c.dummyBind(ctx, password)
		return nil, fmt.Errorf("ldapauth: %w", ErrInvalidCredentials)
	}
	if err := c.userBind(ctx, acct.entry.DN, password); err != nil {
		if ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultConstraintViolation,
			ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultInappropriateAuthentication) {
			return nil, fmt.Errorf("ldapauth: user bind: %w", ErrInvalidCredentials)
		}
		return nil, classify("ldapauth: user bind", err)
	}
	return c.resolve(ctx, acct.entry)
}

// checkPassword refuses an empty password: binding with one would be an
// unauthenticated bind (RFC 4513 §5.1.2), which a server may answer with
// success.
func checkPassword(password string) error {
	if password == "" {
		return fmt.Errorf("ldapauth: empty password refused before bind: %w", ErrInvalidCredentials)
	}
	return nil
}

// Lookup returns what Authenticate would return for username, without a
// password: the same service-account user search (same filter escaping,
// same exactly-one-entry rule) and group resolution, bounded by the same
// LoginTimeout, but no user bind. It is for administrators' tools (such as
// `idbroker explain --user`) and for re-checking a login that was
// authenticated already (a broker session: providers/ldap's Refresh, which
// also reads Result.Disabled), never to authenticate: it proves nothing
// about who is asking.
//
// An unknown user or an impossible username returns an error wrapping
// ErrInvalidCredentials whose text says "no such user" (or "username
// refused"); other errors wrap ErrUnavailable or ErrConfiguration.
func (c *Client) Lookup(ctx context.Context, username string) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LoginTimeout)
	defer cancel()
	entry, err := c.userEntry(ctx, username)
	if errors.Is(err, errNoSuchUser) {
		return nil, fmt.Errorf("ldapauth: %w: %w", errNoSuchUser, ErrInvalidCredentials)
	}
	if err != nil {
		return nil, err
	}
	return c.resolve(ctx, entry)
}

// userEntry is the first half of a login and of Lookup: it refuses
// impossible usernames (ErrInvalidCredentials) and finds the user's entry
// with the service account (errNoSuchUser when there is none).
func (c *Client) userEntry(ctx context.Context, username string) (*ldap.Entry, error) {
	if !ValidUsername(username) {
		return nil, fmt.Errorf("ldapauth: username refused: %w", ErrInvalidCredentials)
	}
	return c.findUser(ctx, username)
}

// resolve is the second half of a login and of Lookup: the Result for a
// found entry, with its groups resolved by the service account.
func (c *Client) resolve(ctx context.Context, entry *ldap.Entry) (*Result, error) {
	res := c.resultFromEntry(entry)
	groups, warnings, err := c.groups(ctx, entry, res.Username)
	if err != nil {
		return nil, err
	}
	res.Groups = groups
	res.Warnings = warnings
	return res, nil
}

var errNoSuchUser = errors.New("no such user")

// dummyBind spends about what a wrong-password bind costs, so unknown users
// and wrong passwords take similar time. Its outcome is ignored.
func (c *Client) dummyBind(ctx context.Context, password string) {
	_ = c.userBind(ctx, c.dummyDN, password)
}

// userBind binds as dn with password and returns the bind's error. The
// connection is never searched on while bound as the user, and never goes
// back to the pool that way: right after the bind (whatever its outcome)
// it is bound again as the service account (anonymously when searches are
// anonymous), and closed when that fails.
func (c *Client) userBind(ctx context.Context, dn, password string) error {
	return c.withConn(ctx, forUserBind, func(cn *conn) error {
		cn.state = stateUser
		err := cn.do(ctx, c.cfg.RequestTimeout, func(l *ldap.Conn) error { return l.Bind(dn, password) })
		if cn.broken {
			return err // closed by put
		}
		// serviceBind leaves cn in stateService or stateAnon when it succeeds.
		if rerr := c.pool.serviceBind(ctx, cn, c.cfg.RequestTimeout); rerr != nil {
			// The user's answer stands; the connection is dropped.
			cn.broken = true
			c.log.DebugContext(ctx, "ldap connection not re-bound after a user bind; closing it", slog.String("url", cn.url), slog.Any("err", rerr))
		}
		return err
	})
}
