// Package revocation is the in-memory revocation set every idbroker replica
// keeps in step with the shared store, and that the STS asks on every
// SigV4-authenticated request (sts.RevocationChecker).
//
// An administrator revokes a login session, a user's or a group's sessions,
// a role or one access key (a Selector). The broker records that as one
// Entry in the store (store.AddRevocation), which announces it to every
// replica; each replica's Set applies it within moments (the watch) and, for
// a message it missed, at its next full resync (every second by default).
// A credential is refused when an entry names its login session, its role
// or its access key — or those of any credential it was chained from — and
// it was issued before the entry's NotBefore. An entry disappears by itself
// once every credential it can cover has expired.
//
// Revoked answers from an immutable index behind an atomic pointer: no lock
// and no I/O on the hot path. Writers (Sync, the watch, Add) build a new
// index and swap it in.
package revocation

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/store"
)

// The kinds of Selector.
const (
	KindSession     = "session"
	KindUser        = "user"
	KindGroup       = "group"
	KindRole        = "role"
	KindAccessKeyID = "access_key_id"
)

// ClockSkew is the allowance for clocks of replicas that disagree: an
// entry lives this long past the last moment a credential it covers can
// expire.
const ClockSkew = 15 * time.Minute

// Lifetime is how long an entry lives after its NotBefore: the longest
// credential (awsspec.MaxSessionDuration) issued just before it has then
// expired on every replica.
const Lifetime = awsspec.MaxSessionDuration + ClockSkew

// maxValueLen bounds the strings of an entry but its session ids (which the
// store bounds): an ARN is at most awsspec.MaxARNLen.
const maxValueLen = awsspec.MaxARNLen

// ErrInvalid wraps every refusal of a malformed Entry.
var ErrInvalid = errors.New("revocation: invalid entry")

// Selector is what the administrator asked to revoke: Kind is one of the
// Kind constants; Value the session id, user name, group name, role (name
// or ARN, as given) or access key id; Provider narrows a user or group to
// one provider ("" = every provider).
type Selector struct {
	Kind     string `json:"kind"`
	Value    string `json:"value"`
	Provider string `json:"provider,omitempty"`
}

// Entry is one revocation. It is stored as JSON in the store's record
// (store.RevocationRecord.Data) under its ID, until Expires.
type Entry struct {
	// ID names the entry: random, 128 bits, hex (NewID); Add fills it when
	// empty.
	ID string `json:"id"`
	// Selector is what the administrator asked for (audit, listing).
	Selector Selector `json:"selector"`
	// SessionIDs are the login sessions it covers: the broker expands
	// session, user and group selectors into them when it records the
	// entry (for a session selector Add fills in the one named).
	SessionIDs []string `json:"session_ids,omitempty"`
	// RoleARN is the role of a role selector (the broker resolves a name
	// to the ARN).
	RoleARN string `json:"role_arn,omitempty"`
	// AccessKeyID is the key of an access_key_id selector (Add fills it
	// from Selector.Value when empty).
	AccessKeyID string `json:"access_key_id,omitempty"`
	// NotBefore: credentials issued before it are refused. Session tokens
	// carry whole seconds, so a credential issued in the same second as
	// NotBefore counts as issued before it (fail closed). Add fills it
	// with the Set's clock when zero.
	NotBefore time.Time `json:"not_before"`
	// Expires is when the entry disappears by itself: at least Lifetime
	// after NotBefore, so that no credential it covers is left (Add fills
	// it with NotBefore + Lifetime when zero).
	Expires time.Time `json:"expires"`
	// By is the administrator who revoked (the caller ARN), for audit.
	By string `json:"by,omitempty"`
}

// NewID returns a random entry id: 128 bits, hex.
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("revocation: entry id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// complete fills what Add may fill: ID, NotBefore, Expires, the session id
// of a session selector and the access key id of an access_key_id one.
func (e *Entry) complete(now time.Time) error {
	if e.ID == "" {
		id, err := NewID()
		if err != nil {
			return err
		}
		e.ID = id
	}
	if e.NotBefore.IsZero() {
		e.NotBefore = now
	}
	if e.Expires.IsZero() {
		e.Expires = e.NotBefore.Add(Lifetime)
	}
	switch e.Selector.Kind {
	case KindSession:
		if len(e.SessionIDs) == 0 && e.Selector.Value != "" {
			e.SessionIDs = []string{e.Selector.Value}
		}
	case KindAccessKeyID:
		if e.AccessKeyID == "" {
			e.AccessKeyID = e.Selector.Value
		}
	}
	return nil
}

// validate checks an entry, wherever it comes from (Add, or another
// replica through the store): a known kind with a value, the fields of that
// kind and no others, lengths within bounds, Expires at least
// awsspec.MaxSessionDuration after NotBefore.
func (e *Entry) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if e.ID == "" || len(e.ID) > store.MaxIDLen || strings.IndexByte(e.ID, 0) >= 0 {
		return bad("id must be 1 to %d bytes without NUL", store.MaxIDLen)
	}
	sel := e.Selector
	if sel.Value == "" {
		return bad("selector %q has no value", sel.Kind)
	}
	for name, v := range map[string]string{"selector value": sel.Value, "selector provider": sel.Provider,
		"role_arn": e.RoleARN, "access_key_id": e.AccessKeyID, "by": e.By} {
		if len(v) > maxValueLen {
			return bad("%s is %d bytes, more than %d", name, len(v), maxValueLen)
		}
	}
	for _, id := range e.SessionIDs {
		if id == "" || len(id) > store.MaxIDLen {
			return bad("a session id must be 1 to %d bytes", store.MaxIDLen)
		}
	}
	if sel.Provider != "" && sel.Kind != KindUser && sel.Kind != KindGroup {
		return bad("a provider narrows only a user or group selector")
	}
	switch sel.Kind {
	case KindSession, KindUser, KindGroup:
		if e.RoleARN != "" || e.AccessKeyID != "" {
			return bad("a %s selector covers session ids only", sel.Kind)
		}
		if sel.Kind == KindSession && len(e.SessionIDs) == 0 {
			return bad("a session selector needs its session id")
		}
	case KindRole:
		if e.RoleARN == "" || !strings.HasPrefix(e.RoleARN, "arn:") || !strings.Contains(e.RoleARN, ":role/") {
			return bad("a role selector needs the role's ARN")
		}
		if len(e.SessionIDs) > 0 || e.AccessKeyID != "" {
			return bad("a role selector covers its role only")
		}
	case KindAccessKeyID:
		if e.AccessKeyID == "" {
			return bad("an access_key_id selector needs the access key id")
		}
		if len(e.SessionIDs) > 0 || e.RoleARN != "" {
			return bad("an access_key_id selector covers its key only")
		}
	default:
		return bad("unknown selector kind %q", sel.Kind)
	}
	if e.NotBefore.IsZero() {
		return bad("not_before is missing")
	}
	if e.Expires.Before(e.NotBefore.Add(awsspec.MaxSessionDuration)) {
		return bad("expires must be at least %s after not_before, when every credential it covers has expired", awsspec.MaxSessionDuration)
	}
	return nil
}

// decodeEntry reads and validates the entry of a store record.
func decodeEntry(r store.RevocationRecord) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(r.Data, &e); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if e.ID != r.ID {
		return Entry{}, fmt.Errorf("%w: the entry's id is not its record's", ErrInvalid)
	}
	if err := e.validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// cutoff is the first Unix second whose credentials an entry no longer
// refuses: NotBefore rounded up to the second, so that a credential whose
// whole-second IssuedAt could lie before NotBefore is refused.
func (e *Entry) cutoff() int64 {
	sec := e.NotBefore.Unix()
	if e.NotBefore.Nanosecond() > 0 {
		sec++
	}
	return sec
}

// clone is a copy of e sharing nothing with it.
func (e Entry) clone() Entry {
	e.SessionIDs = append([]string(nil), e.SessionIDs...)
	return e
}
