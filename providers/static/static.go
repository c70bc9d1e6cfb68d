// Package static is a provider of local users kept in the configuration, with
// bcrypt password hashes (like dex's static passwords). It is meant for demos,
// break-glass accounts and tests.
package static

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idbroker/idbroker/providers"
)

// Config is the provider block of a static provider:
//
//	providers:
//	  - name: demo
//	    type: static
//	    users:
//	      - username: alice
//	        password_hash: "$2a$10$..."   # bcrypt; make one with `idbroker hash-password`
//	        email: alice@example.org
//	        groups: [developers]
type Config struct {
	Users []User `yaml:"users"`
}

// User is one local account.
type User struct {
	Username     string              `yaml:"username"`
	PasswordHash string              `yaml:"password_hash"`
	Email        string              `yaml:"email"`
	DisplayName  string              `yaml:"display_name"`
	Groups       []string            `yaml:"groups"`
	Attributes   map[string][]string `yaml:"attributes"`
	MFA          bool                `yaml:"mfa"`
}

// Validate reports every problem in the block; each error names its key
// relative to the provider block.
func (c Config) Validate() []error {
	var errs []error
	if len(c.Users) == 0 {
		errs = append(errs, errors.New("users: at least one user is required"))
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Username == "":
			errs = append(errs, fmt.Errorf("%s.username: must not be empty", key))
		case seen[u.Username]:
			errs = append(errs, fmt.Errorf("%s.username: %q is listed twice", key, u.Username))
		}
		seen[u.Username] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			errs = append(errs, fmt.Errorf("%s.password_hash: not a bcrypt hash (%v)", key, err))
		}
	}
	return errs
}

// Provider authenticates local users.
type Provider struct {
	name  string
	users map[string]User
	// dummy is a bcrypt hash compared against for unknown users, so an
	// unknown user costs as much time as a wrong password.
	dummy []byte
	once  sync.Once
}

var (
	_ providers.PasswordAuthenticator = (*Provider)(nil)
	_ providers.Lookuper              = (*Provider)(nil)
	_ providers.Refresher             = (*Provider)(nil)
)

// New builds the provider from a validated Config.
func New(name string, cfg Config) (*Provider, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("static provider %q: %w", name, errors.Join(errs...))
	}
	p := &Provider{name: name, users: make(map[string]User, len(cfg.Users))}
	for _, u := range cfg.Users {
		p.users[u.Username] = u
	}
	return p, nil
}

// maxInput bounds usernames and passwords; bcrypt itself only reads 72 bytes.
const maxInput = 1024

// Login checks the password. Unknown users, wrong and empty passwords all
// return ErrInvalidCredentials after a full bcrypt comparison.
func (p *Provider) Login(ctx context.Context, username, password string) (providers.Identity, error) {
	if err := ctx.Err(); err != nil {
		return providers.Identity{}, fmt.Errorf("static login: %w", err)
	}
	u, ok := p.users[username]
	hash := []byte(u.PasswordHash)
	if !ok {
		p.once.Do(func() {
			h, err := bcrypt.GenerateFromPassword([]byte("idbroker-dummy-password"), bcrypt.DefaultCost)
			if err == nil {
				p.dummy = h
			}
		})
		hash = p.dummy
	}
	if len(username) > maxInput || len(password) > maxInput || strings.ContainsRune(username, 0) {
		ok = false
	}
	// Always compare, even for an unknown user or an empty password, so the
	// answer takes the same time.
	cmpErr := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if !ok || password == "" || cmpErr != nil {
		return providers.Identity{}, providers.ErrInvalidCredentials
	}
	return p.identity(u), nil
}

// Lookup returns the identity Login would return for username, without a
// password. It is for administrators' tools (`idbroker explain --provider
// --user`), never for an HTTP route. An unknown user returns an error
// wrapping providers.ErrInvalidCredentials whose text says "no such user".
func (p *Provider) Lookup(ctx context.Context, username string) (providers.Identity, error) {
	if err := ctx.Err(); err != nil {
		return providers.Identity{}, fmt.Errorf("static lookup: %w", err)
	}
	u, ok := p.users[username]
	if !ok {
		return providers.Identity{}, fmt.Errorf("static provider %q: no such user: %w", p.name, providers.ErrInvalidCredentials)
	}
	return p.identity(u), nil
}

// Refresh re-checks a login of this provider against its user list (the
// configuration in force, which a reload replaces with a new Provider):
// the user must still be listed (else an error wrapping
// providers.ErrAccountGone), and the identity returned has the groups,
// attributes, email and names configured now, with the login's own
// AuthTime and Expiry. MFA stays only while the user is still configured
// with mfa, and keeps the login's MFATime.
func (p *Provider) Refresh(ctx context.Context, id providers.Identity) (providers.Identity, error) {
	if err := ctx.Err(); err != nil {
		return providers.Identity{}, fmt.Errorf("static provider %q: re-check: %w: %w", p.name, providers.ErrUnavailable, err)
	}
	if id.Provider != p.name {
		return providers.Identity{}, fmt.Errorf("static provider %q: cannot re-check a login of provider %q: %w: %w",
			p.name, id.Provider, providers.ErrUnavailable, providers.ErrConfiguration)
	}
	u, ok := p.users[id.Subject]
	if !ok {
		return providers.Identity{}, fmt.Errorf("static provider %q: re-check of %q: the user is no longer configured: %w",
			p.name, id.Subject, providers.ErrAccountGone)
	}
	fresh := p.identity(u)
	fresh.AuthTime, fresh.Expiry, fresh.Upstream = id.AuthTime, id.Expiry, id.Upstream
	fresh.MFA = u.MFA && id.MFA
	fresh.MFATime = time.Time{}
	if fresh.MFA {
		fresh.MFATime = id.MFATime
	}
	return fresh, nil
}

// identity is the Identity of a successful login (or look-up) of u. A
// user configured with mfa counts as having used it at the login.
func (p *Provider) identity(u User) providers.Identity {
	now := time.Now().UTC()
	id := providers.Identity{
		Provider:      p.name,
		Subject:       u.Username,
		Username:      u.Username,
		Email:         u.Email,
		EmailVerified: u.Email != "", // the administrator wrote it down
		DisplayName:   u.DisplayName,
		Groups:        append([]string(nil), u.Groups...),
		MFA:           u.MFA,
		AuthTime:      now,
	}
	if u.MFA {
		id.MFATime = now
	}
	if len(u.Attributes) > 0 {
		id.Attributes = make(map[string][]string, len(u.Attributes))
		for k, v := range u.Attributes {
			id.Attributes[k] = append([]string(nil), v...)
		}
	}
	return id
}
