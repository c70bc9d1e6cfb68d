// Package ratelimit limits how fast credentials are issued: per person, per
// role and per client address, each limit optional. The limits are kept in
// the shared store (store.TakeRate: GCRA, atomic in Redis, so every replica
// counts against the same limits; in memory for one process). The broker's
// issuing seam and the STS's direct actions ask one Limiter before they
// issue anything.
//
// It imports only internal/store.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

// Rule is one limit: Rate issuances per Per, at most Burst at once.
type Rule struct {
	// Rate is how many issuances the limit admits per Per (at least 1).
	Rate int
	// Per is the limit's period (at least 1s).
	Per time.Duration
	// Burst is how many issuances it admits at once after a quiet period
	// (0: Rate).
	Burst int
}

// Limits are the issuance limits; a nil rule is no limit.
type Limits struct {
	// PerUser counts the issuances of one person: a broker user
	// (provider/username) or, for the STS's direct actions, the federated
	// subject the credentials come from.
	PerUser *Rule
	// PerRole counts the issuances of one role, whoever asks.
	PerRole *Rule
	// PerSource counts the issuances asked from one client address (an
	// IPv6 /64 counts as one address).
	PerSource *Rule
}

// Limit names, as Decision.Limit, metrics and the audit log give them.
const (
	LimitUser   = "user"
	LimitRole   = "role"
	LimitSource = "source"
)

// Enabled reports whether any limit is set.
func (l Limits) Enabled() bool { return l.PerUser != nil || l.PerRole != nil || l.PerSource != nil }

// Validate reports nonsensical rules, each naming its YAML key under
// limits (per_user.rate, …).
func (l Limits) Validate() []error {
	var errs []error
	for _, r := range []struct {
		key  string
		rule *Rule
	}{{"per_user", l.PerUser}, {"per_role", l.PerRole}, {"per_source", l.PerSource}} {
		if r.rule != nil {
			for _, err := range r.rule.validate() {
				errs = append(errs, fmt.Errorf("%s.%w", r.key, err))
			}
		}
	}
	return errs
}

func (r Rule) validate() []error {
	var errs []error
	if r.Rate < 1 || r.Rate > store.MaxRateBurst {
		errs = append(errs, fmt.Errorf("rate: %d must be 1 to %d", r.Rate, store.MaxRateBurst))
	}
	if r.Per < time.Second || r.Per > 24*time.Hour {
		errs = append(errs, fmt.Errorf("per: %s must be 1s to 24h", r.Per))
	}
	if r.Burst < 0 || r.Burst > store.MaxRateBurst {
		errs = append(errs, fmt.Errorf("burst: %d must be 0 (the rate) to %d", r.Burst, store.MaxRateBurst))
	}
	return errs
}

// interval is the time one issuance takes back from the limit.
func (r Rule) interval() time.Duration {
	return max(r.Per/time.Duration(r.Rate), store.MinRateInterval)
}

func (r Rule) burst() int {
	if r.Burst == 0 {
		return r.Rate
	}
	return r.Burst
}

// Request is one issuance to decide.
type Request struct {
	// Surface is where it was asked: "api", "portal", "oauth2", "sts", …
	// (for metrics and the audit log).
	Surface string
	// User is the person ("" when unknown: no per-user limit applies).
	User string
	// RoleARNs are the roles of the credentials asked for, one per
	// credential (a request for two roles counts two issuances).
	RoleARNs []string
	// Source is the client's address ("" when unknown).
	Source string
}

// Decision is a Limiter's answer.
type Decision struct {
	// Allowed: issue. Every limit has been charged.
	Allowed bool
	// RetryAfter is how long a refused request should wait.
	RetryAfter time.Duration
	// Limit names the first limit that refused (LimitUser, LimitRole or
	// LimitSource); "" when allowed.
	Limit string
	// Audit is true for the first refusal of a burst: the limit refused
	// nothing else for this subject during the last period of the limit
	// (across replicas). Callers audit those refusals only.
	Audit bool
}

// storeTimeout bounds the store calls of one decision.
const storeTimeout = 2 * time.Second

// ErrUnavailable wraps the store's failure: the limits could not be
// checked, and the caller refuses (fail closed).
var ErrUnavailable = errors.New("issuance limits cannot be checked")

// Limiter decides issuances against Limits in a store. Safe for concurrent
// use; a nil *Limiter allows everything.
type Limiter struct {
	limits Limits
	store  store.Store
	opts   Options
}

// Options are a Limiter's optional hooks.
type Options struct {
	// OnThrottle, when set, is called for every refused request (metrics).
	OnThrottle func(surface, limit string)
	// Now is the store's clock (nil: time.Now), for the audit markers'
	// expiry.
	Now func() time.Time
}

// New returns a Limiter of limits over st, or nil when no limit is set.
func New(limits Limits, st store.Store, opts Options) (*Limiter, error) {
	if errs := limits.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("limits: %w", errors.Join(errs...))
	}
	if !limits.Enabled() {
		return nil, nil
	}
	if st == nil {
		return nil, errors.New("limits: a store is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Limiter{limits: limits, store: st, opts: opts}, nil
}

// Limits returns the limits in force (the zero Limits for nil).
func (l *Limiter) Limits() Limits {
	if l == nil {
		return Limits{}
	}
	return l.limits
}

// charge is one limit of a decision, with the name and period of its rule.
type charge struct {
	rate  store.Rate
	limit string
	per   time.Duration
}

// Admit decides req: every applicable limit is charged at once, or none.
// An error (wrapping ErrUnavailable) means the store could not decide;
// the caller refuses without issuing.
func (l *Limiter) Admit(ctx context.Context, req Request) (Decision, error) {
	if l == nil {
		return Decision{Allowed: true}, nil
	}
	charges := l.charges(req)
	if len(charges) == 0 {
		return Decision{Allowed: true}, nil
	}
	rates := make([]store.Rate, len(charges))
	for i, c := range charges {
		rates[i] = c.rate
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	res, err := l.store.TakeRate(ctx, rates)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if res.Allowed {
		return Decision{Allowed: true}, nil
	}
	c := charges[res.Refused]
	d := Decision{RetryAfter: res.RetryAfter, Limit: c.limit}
	// One audit record per burst: the first refusal claims the subject's
	// marker for the rule's period; a marker that cannot be claimed (the
	// store failing now) errs on the side of auditing.
	fresh, err := l.store.Claim(ctx, "rate:audited:"+c.rate.Key, l.opts.Now().Add(max(c.per, res.RetryAfter)))
	d.Audit = fresh || err != nil
	if l.opts.OnThrottle != nil {
		l.opts.OnThrottle(req.Surface, c.limit)
	}
	return d, nil
}

// charges are the limits that apply to req, user first, then each role,
// then the source.
func (l *Limiter) charges(req Request) []charge {
	n := max(len(req.RoleARNs), 1)
	var out []charge
	add := func(r *Rule, limit, key string, cost int) {
		out = append(out, charge{limit: limit, per: r.Per, rate: store.Rate{
			Key: "rate:" + limit + ":" + hashKey(key), Interval: r.interval(), Burst: r.burst(), Cost: cost,
		}})
	}
	if r := l.limits.PerUser; r != nil && req.User != "" {
		add(r, LimitUser, req.User, n)
	}
	if r := l.limits.PerRole; r != nil {
		roles := req.RoleARNs
		if len(roles) > 1 {
			roles = slices.Sorted(slices.Values(roles))
		}
		for i := 0; i < len(roles) && len(out) < store.MaxRates-1; {
			j := i
			for j < len(roles) && roles[j] == roles[i] {
				j++
			}
			add(r, LimitRole, roles[i], j-i)
			i = j
		}
	}
	if r := l.limits.PerSource; r != nil && req.Source != "" {
		add(r, LimitSource, SourceKey(req.Source), n)
	}
	return out
}

// hashKey keeps store keys short and free of what users typed.
func hashKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// SourceKey is the address a per-source limit counts: IPv4 as is, IPv6
// reduced to its /64 (one host usually owns a whole /64), anything else as
// given.
func SourceKey(addr string) string {
	ip := net.ParseIP(addr)
	switch {
	case ip == nil:
		return "raw:" + addr
	case ip.To4() != nil:
		return ip.To4().String()
	default:
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
}

// RetryAfterSeconds is d rounded up to whole seconds, at least 1: the
// value of a Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
