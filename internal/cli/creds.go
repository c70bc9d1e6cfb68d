package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// KeysRefreshBefore: cached keys are used until this long before they
// expire; then new ones are asked for.
const KeysRefreshBefore = 5 * time.Minute

// Getter gets a profile's keys: from the cache while they are fresh, else
// from the broker with the profile's session.
type Getter struct {
	Cache *Cache
	// Client returns a client of the broker at a normalized URL.
	Client func(base string) *Client
	Now    func() time.Time
}

// NoLoginError is a profile without a usable session: what happened and
// the command that fixes it.
type NoLoginError struct {
	Profile, BrokerURL, User string
	// Why: "no-profile", "no-session", "expired", "ended".
	Why string
	// Detail is the broker's words, when it said something.
	Detail string
}

func (e *NoLoginError) Error() string {
	fix := "idbroker login --profile " + e.Profile
	if e.Why == "no-profile" {
		return fmt.Sprintf("idbroker has no sign-in for profile %s: run `idbroker login --url <broker URL> --profile %s`", e.Profile, e.Profile)
	}
	var what string
	switch e.Why {
	case "expired":
		what = fmt.Sprintf("the idbroker session of %s at %s has expired", e.User, e.BrokerURL)
	case "ended":
		what = fmt.Sprintf("the idbroker session of %s at %s has ended (signed out, revoked, or expired at the broker)", e.User, e.BrokerURL)
		if e.Detail != "" {
			what += ": the broker says " + e.Detail
		}
	default:
		what = fmt.Sprintf("you are not signed in to %s as %s", e.BrokerURL, e.User)
	}
	return what + ": run `" + fix + "`"
}

// RefusedError is the broker's refusal to give a profile's keys, passed
// on in words.
type RefusedError struct {
	Profile, RoleARN, User, BrokerURL string
	API                               *APIError
}

func (e *RefusedError) Error() string {
	switch e.API.Code {
	case "RoleNoLongerGranted", "RoleNotGranted":
		return fmt.Sprintf("role %s is no longer granted to %s at %s (%s): run `idbroker login --url %s` to see the roles you have now", e.RoleARN, e.User, e.BrokerURL, e.API.Message, e.BrokerURL)
	case "NoRoleGranted":
		return fmt.Sprintf("no role is granted to %s at %s any more: ask your administrator", e.User, e.BrokerURL)
	}
	return fmt.Sprintf("the broker at %s refused keys for role %s: %v", e.BrokerURL, e.RoleARN, e.API)
}

// Get returns the keys of profile: the cached ones while they are
// fresh and from the profile's current session, else new ones from the
// broker (cached). A session the broker says has ended is removed from
// the cache.
func (g *Getter) Get(ctx context.Context, profile string) (*Credentials, *ProfileBinding, error) {
	now := g.Now()
	b, err := g.Cache.Profile(profile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, &NoLoginError{Profile: profile, Why: "no-profile"}
	}
	if err != nil {
		return nil, nil, err
	}
	se, err := g.Cache.Session(b.BrokerURL, b.User)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, b, &NoLoginError{Profile: profile, BrokerURL: b.BrokerURL, User: b.User, Why: "no-session"}
	}
	if err != nil {
		return nil, b, err
	}
	if !now.Before(se.ExpiresAt) {
		return nil, b, &NoLoginError{Profile: profile, BrokerURL: b.BrokerURL, User: b.User, Why: "expired"}
	}
	if c, err := g.fresh(profile, se, b, now); c != nil || err != nil {
		return c, b, err
	}
	// One process refreshes; the others then find its keys.
	unlock, err := g.Cache.LockProfile(ctx, profile)
	if err != nil {
		return nil, b, err
	}
	defer unlock()
	if c, err := g.fresh(profile, se, b, g.Now()); c != nil || err != nil {
		return c, b, err
	}
	creds, err := g.Client(b.BrokerURL).Credentials(ctx, se.Token, b.RoleARN)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			if ae.Code == "InvalidSession" {
				_ = g.Cache.RemoveSession(b.BrokerURL, b.User)
				_ = g.Cache.RemoveKeys(profile)
				return nil, b, &NoLoginError{Profile: profile, BrokerURL: b.BrokerURL, User: b.User, Why: "ended", Detail: ae.Message}
			}
			if ae.Code != "" {
				return nil, b, &RefusedError{Profile: profile, RoleARN: b.RoleARN, User: b.User, BrokerURL: b.BrokerURL, API: ae}
			}
		}
		return nil, b, err
	}
	if creds.RoleARN == "" {
		creds.RoleARN = b.RoleARN
	}
	if err := g.Cache.SaveKeys(&CachedKeys{Profile: profile, SessionID: se.SessionID, Credentials: *creds}); err != nil {
		return nil, b, fmt.Errorf("the keys could not be cached: %w", err)
	}
	return creds, b, nil
}

// fresh is the cached keys of profile when they are from session se, for
// the profile's role, and more than KeysRefreshBefore from expiring; nil
// otherwise. A keys file refused for its permissions is an error; a
// damaged one is replaced.
func (g *Getter) fresh(profile string, se *CachedSession, b *ProfileBinding, now time.Time) (*Credentials, error) {
	k, err := g.Cache.Keys(profile)
	if err != nil {
		var ue *UnsafeError
		if errors.As(err, &ue) {
			return nil, err
		}
		return nil, nil
	}
	if k.SessionID != se.SessionID || k.RoleARN != b.RoleARN || !now.Add(KeysRefreshBefore).Before(k.Expiration) {
		return nil, nil
	}
	c := k.Credentials
	return &c, nil
}
