package reports

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/store"
)

// PersonKind is what happened to a person.
type PersonKind uint8

// The person events, and the broker's audit events they are read from
// (AuditKind): every event the reports count has one name.
const (
	// SignIn: audit "login" (every successful login, whatever the way).
	SignIn PersonKind = iota + 1
	// Issue: audit "issue" (credentials issued; Role is the role ARN).
	Issue
	// Revoked: audit "session.revoked" (the credentials of a session whose
	// person is gone upstream) and "session.ended" whose reason begins
	// "revoked by " (an administrator's revocation ended a live session).
	Revoked
	// Locked: audit "login.locked" (the lock-out locked the person's name
	// or account).
	Locked
	// MFAEnrolled: audit "mfa.enrolled".
	MFAEnrolled
	// MFAVerified: audit "mfa.verified" (a TOTP code accepted).
	MFAVerified
	// MFAFailed: audit "mfa.failed" (a wrong or replayed code).
	MFAFailed
	// MFAReset: audit "mfa.reset" (an administrator reset the enrolment).
	MFAReset
	// RecoveryCodeUsed: audit "mfa.recovery_used".
	RecoveryCodeUsed
)

// auditKinds maps the broker's audit event names to person events.
var auditKinds = map[string]PersonKind{
	"login":             SignIn,
	"issue":             Issue,
	"session.revoked":   Revoked,
	"login.locked":      Locked,
	"mfa.enrolled":      MFAEnrolled,
	"mfa.verified":      MFAVerified,
	"mfa.failed":        MFAFailed,
	"mfa.reset":         MFAReset,
	"mfa.recovery_used": RecoveryCodeUsed,
}

// revokedPrefix begins the reason of a session ended by an administrator's
// revocation (broker/adminrevoke.go).
const revokedPrefix = "revoked by "

// AuditKind says whether the broker's audit event (its name, and its
// "reason" attribute for session.ended) counts in the credential report,
// and as what.
func AuditKind(event, reason string) (PersonKind, bool) {
	if event == "session.ended" {
		return Revoked, strings.HasPrefix(reason, revokedPrefix)
	}
	k, ok := auditKinds[event]
	return k, ok
}

// PersonEvent is one event of a person (provider, username).
type PersonEvent struct {
	Kind               PersonKind
	Provider, Username string
	// Role is the role ARN of an Issue.
	Role string
	// Note goes with the time of a Revoked event (the reason).
	Note string
	At   time.Time
}

// AccessEvent is one decision of the authorize API for a session of a role.
type AccessEvent struct {
	RoleARN string
	// Action is the action asked about ("s3:GetObject").
	Action string
	// Principal is who asked: the session's assumed-role ARN.
	Principal string
	Allowed   bool
	At        time.Time
}

// Person records ev without waiting. Events without a provider or a
// username (a refused login names no person) are ignored.
func (r *Recorder) Person(ev PersonEvent) {
	if r == nil || ev.Provider == "" || ev.Username == "" || ev.Kind < SignIn || ev.Kind > RecoveryCodeUsed {
		return
	}
	if ev.At.IsZero() {
		ev.At = r.now()
	}
	enqueue(r, r.persons, ev)
}

// Access records ev without waiting. An action that is not
// service:Action in printable ASCII (at most 256 bytes) is ignored.
func (r *Recorder) Access(ev AccessEvent) {
	if r == nil || ev.RoleARN == "" || !validAction(ev.Action) {
		return
	}
	if ev.At.IsZero() {
		ev.At = r.now()
	}
	enqueue(r, r.access, ev)
}

func validAction(a string) bool {
	svc, name, ok := strings.Cut(a, ":")
	if !ok || svc == "" || name == "" || len(a) > 256 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] <= ' ' || a[i] > '~' {
			return false
		}
	}
	return true
}

// The record layout. Person records: set "person", id the hex SHA-256 of
// provider, NUL and the username folded with casefold.Unicode (the
// broker's user index folds it so), fields below. Access records: set
// "access/<role ARN>", id the action in lower case (IAM actions are
// case-insensitive).
const (
	setPerson    = "person"
	accessPrefix = "access/"

	fProvider      = "provider"      // Min 0, the provider
	fUser          = "user"          // Max time, the username as last seen
	fFirstSeen     = "first_seen"    // Min time
	fSignIns       = "sign_ins"      // Add
	fLastSignIn    = "last_sign_in"  // Max time
	fIssuances     = "issuances"     // Add
	fLastIssuance  = "last_issuance" // Max time, the role
	fIssuedPrefix  = "issued:"       // + role ARN: Add
	fLastRevoked   = "last_revoked"  // Max time, the reason
	fLockOuts      = "lock_outs"     // Add
	fLastLocked    = "last_locked"   // Max time
	fMFAEnrolledAt = "mfa_enrolled"  // Max time (an enrolment seen)
	fMFAVerified   = "mfa_verified"  // Add
	fMFALastEvent  = "mfa_last_used" // Max time
	fMFAFailures   = "mfa_failures"  // Add
	fMFAResets     = "mfa_resets"    // Add
	fRecoveryUsed  = "recovery_codes_used"

	fAction      = "action"       // Min time, the action as first asked
	fAllowed     = "allowed"      // Add
	fDenied      = "denied"       // Add
	fLast        = "last"         // Max time, who asked
	fLastAllowed = "last_allowed" // Max time, who asked
)

// personID is the record id of a person.
func personID(provider, username string) string {
	h := sha256.Sum256([]byte(provider + "\x00" + casefold.Unicode(username)))
	return hex.EncodeToString(h[:16])
}

func accessSet(roleARN string) string { return accessPrefix + roleARN }

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ops are the changes an event makes to its record.
func (ev *PersonEvent) ops() []store.AggregateOp {
	at := ev.At.UnixMilli()
	ops := []store.AggregateOp{
		{Field: fProvider, Kind: store.AggregateMin, N: 0, Text: cut(ev.Provider, store.MaxAggregateTextLen)},
		{Field: fUser, Kind: store.AggregateMax, N: at, Text: cut(ev.Username, store.MaxAggregateTextLen)},
		{Field: fFirstSeen, Kind: store.AggregateMin, N: at},
	}
	add := func(f string) store.AggregateOp { return store.AggregateOp{Field: f, Kind: store.AggregateAdd, N: 1} }
	last := func(f, text string) store.AggregateOp {
		return store.AggregateOp{Field: f, Kind: store.AggregateMax, N: at, Text: cut(text, store.MaxAggregateTextLen)}
	}
	switch ev.Kind {
	case SignIn:
		ops = append(ops, add(fSignIns), last(fLastSignIn, ""))
	case Issue:
		ops = append(ops, add(fIssuances), last(fLastIssuance, ev.Role))
		if ev.Role != "" {
			ops = append(ops, add(fIssuedPrefix+cut(ev.Role, store.MaxAggregateFieldLen-len(fIssuedPrefix))))
		}
	case Revoked:
		ops = append(ops, last(fLastRevoked, ev.Note))
	case Locked:
		ops = append(ops, add(fLockOuts), last(fLastLocked, ""))
	case MFAEnrolled:
		ops = append(ops, last(fMFAEnrolledAt, ""))
	case MFAVerified:
		ops = append(ops, add(fMFAVerified), last(fMFALastEvent, ""))
	case MFAFailed:
		ops = append(ops, add(fMFAFailures))
	case MFAReset:
		ops = append(ops, add(fMFAResets))
	case RecoveryCodeUsed:
		ops = append(ops, add(fRecoveryUsed), last(fMFALastEvent, "recovery code"))
	}
	return ops
}

// accessKey is a role and an action as asked (folded to the record's id
// only when written, so that folding an event allocates nothing).
type accessKey struct{ role, action string }

// accessAgg is what the queued decisions of one accessKey add up to.
type accessAgg struct {
	first                 int64 // when first asked (Unix ms)
	allowed, denied       int64
	last, lastAllowed     int64
	lastBy, lastAllowedBy string
}

func (a *accessAgg) fold(ev *AccessEvent) {
	at := ev.At.UnixMilli()
	if a.first == 0 || at < a.first {
		a.first = at
	}
	if at >= a.last {
		a.last, a.lastBy = at, ev.Principal
	}
	if ev.Allowed {
		a.allowed++
		if at >= a.lastAllowed {
			a.lastAllowed, a.lastAllowedBy = at, ev.Principal
		}
	} else {
		a.denied++
	}
}

func (a *accessAgg) ops(action string) []store.AggregateOp {
	ops := []store.AggregateOp{
		{Field: fAction, Kind: store.AggregateMin, N: a.first, Text: action},
		{Field: fLast, Kind: store.AggregateMax, N: a.last, Text: cut(a.lastBy, store.MaxAggregateTextLen)},
	}
	if a.allowed > 0 {
		ops = append(ops, store.AggregateOp{Field: fAllowed, Kind: store.AggregateAdd, N: a.allowed},
			store.AggregateOp{Field: fLastAllowed, Kind: store.AggregateMax, N: a.lastAllowed, Text: cut(a.lastAllowedBy, store.MaxAggregateTextLen)})
	}
	if a.denied > 0 {
		ops = append(ops, store.AggregateOp{Field: fDenied, Kind: store.AggregateAdd, N: a.denied})
	}
	return ops
}

// addAccess folds an authorize decision into p.
func (p *pending) addAccess(ev *AccessEvent) {
	k := accessKey{ev.RoleARN, ev.Action}
	a := p.access[k]
	if a == nil {
		a = &accessAgg{}
		p.access[k] = a
	}
	a.fold(ev)
}

// pending holds the changes folded from the queue: the authorize
// decisions per role and action, and one op per field of each other
// record (adds summed, max and min kept as the store would apply them one
// after the other; a max tie: the later event wins).
type pending struct {
	recs   map[recKey]map[string]store.AggregateOp
	access map[accessKey]*accessAgg
}

type recKey struct{ set, id string }

func newPending() *pending {
	return &pending{recs: map[recKey]map[string]store.AggregateOp{}, access: map[accessKey]*accessAgg{}}
}

func (p *pending) size() int { return len(p.recs) + len(p.access) }

func (p *pending) reset() {
	clear(p.recs)
	clear(p.access)
}

func (p *pending) add(set, id string, ops []store.AggregateOp) {
	k := recKey{set, id}
	fields := p.recs[k]
	if fields == nil {
		fields = map[string]store.AggregateOp{}
		p.recs[k] = fields
	}
	for _, op := range ops {
		cur, ok := fields[op.Field]
		switch {
		case !ok:
			fields[op.Field] = op
		case op.Kind == store.AggregateAdd:
			cur.N += op.N
			fields[op.Field] = cur
		case op.Kind == store.AggregateMax && op.N >= cur.N, op.Kind == store.AggregateMin && op.N < cur.N:
			fields[op.Field] = op
		}
	}
}

// updates turns p into store updates expiring at expires, each within
// store.MaxAggregateOps (a record with more fields takes several).
func (p *pending) updates(expires time.Time) []store.AggregateUpdate {
	out := make([]store.AggregateUpdate, 0, p.size())
	for k, a := range p.access {
		out = append(out, store.AggregateUpdate{Set: accessSet(k.role), ID: strings.ToLower(k.action), Ops: a.ops(k.action), Expires: expires})
	}
	for k, fields := range p.recs {
		names := make([]string, 0, len(fields))
		for f := range fields {
			names = append(names, f)
		}
		sort.Strings(names)
		for len(names) > 0 {
			n := min(len(names), store.MaxAggregateOps)
			ops := make([]store.AggregateOp, 0, n)
			for _, f := range names[:n] {
				ops = append(ops, fields[f])
			}
			names = names[n:]
			out = append(out, store.AggregateUpdate{Set: k.set, ID: k.id, Ops: ops, Expires: expires})
		}
	}
	return out
}
