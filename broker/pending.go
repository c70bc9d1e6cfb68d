package broker

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
)

// pendingChoice is what the browser carries (sealed, in the pending
// cookie) between the sign-in and the role chooser: who signed in, what
// issuing needs of the login, and the grants the mapping offered then. The
// groups and attributes are left out: a directory user can have thousands
// of groups, and a cookie holds about 4 KB. The grants are kept as rendered
// at sign-in (their session tags came from the left-out attributes), so the
// chooser needs no second mapping.
type pendingChoice struct {
	Provider string         `json:"p"`
	Subject  string         `json:"s,omitempty"`
	Username string         `json:"u"`
	MFA      bool           `json:"m,omitempty"`
	AuthTime int64          `json:"at,omitempty"` // Unix nanoseconds, 0 = unknown
	Expiry   int64          `json:"ex,omitempty"` // Unix nanoseconds, 0 = unbounded
	Grants   []pendingGrant `json:"g"`
}

// pendingGrant is a mapping.Grant with short JSON keys. It has Grant's
// fields, names, types and order (only the tags differ), so the two convert
// into each other: a field added to Grant breaks the build here until it is
// added (with a key) to the cookie too.
type pendingGrant struct {
	RoleARN           string            `json:"a"`
	RoleName          string            `json:"n,omitempty"`
	Rule              string            `json:"r,omitempty"`
	RuleIndex         int               `json:"ri"`
	SessionName       string            `json:"sn,omitempty"`
	SessionTags       map[string]string `json:"t,omitempty"`
	TransitiveTagKeys []string          `json:"tt,omitempty"`
	MaxDuration       time.Duration     `json:"md,omitempty"`
	RuleDuration      time.Duration     `json:"rd,omitempty"`
	RoleMaxDuration   time.Duration     `json:"rm,omitempty"`
	SourceIdentity    string            `json:"si,omitempty"`
}

const (
	pendingCookie = "idb_pending"
	pendingTTL    = 10 * time.Minute
	// pendingPurpose binds the sealed choice; "/v2" names this format, so
	// a cookie of another (one holding the whole identity) is refused.
	pendingPurpose = pendingCookie + "/v2"
	// maxPendingCookie keeps the cookie within what browsers store (4096
	// bytes for name, value and attributes).
	maxPendingCookie = 3800
)

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func newPendingChoice(id providers.Identity, grants []mapping.Grant) pendingChoice {
	pc := pendingChoice{Provider: id.Provider, Subject: id.Subject, Username: id.Username, MFA: id.MFA,
		AuthTime: unixNano(id.AuthTime), Expiry: unixNano(id.Expiry)}
	for _, g := range grants {
		pc.Grants = append(pc.Grants, pendingGrant(g))
	}
	return pc
}

// identity is the part of the login issuing uses (no groups, no attributes).
func (pc pendingChoice) identity() providers.Identity {
	return providers.Identity{Provider: pc.Provider, Subject: pc.Subject, Username: pc.Username, MFA: pc.MFA,
		AuthTime: fromUnixNano(pc.AuthTime), Expiry: fromUnixNano(pc.Expiry)}
}

// decision is the choice offered at sign-in.
func (pc pendingChoice) decision() mapping.Decision {
	dec := mapping.Decision{Outcome: "choose"}
	for _, g := range pc.Grants {
		dec.Grants = append(dec.Grants, mapping.Grant(g))
	}
	return dec
}

var errNoPendingChoice = errors.New("no pending role choice")

// pending opens the browser's sealed role choice.
func (s *Server) pending(r *http.Request) (pendingChoice, error) {
	var pc pendingChoice
	c, err := r.Cookie(pendingCookie)
	if err != nil {
		return pc, fmt.Errorf("%w: %w", errNoPendingChoice, err)
	}
	if err := s.sealer.open(pendingPurpose, c.Value, &pc); err != nil {
		return pc, fmt.Errorf("%w: %w", errNoPendingChoice, err)
	}
	if _, ok := s.providers[pc.Provider]; !ok || len(pc.Grants) == 0 {
		return pc, fmt.Errorf("%w: sealed choice names no provider or no grant", errNoPendingChoice)
	}
	return pc, nil
}

// setPending seals the choice offered to id into the pending cookie. A
// choice too large for a cookie (too many or too large grants) is an
// error: the chooser could never read it back.
func (s *Server) setPending(w http.ResponseWriter, id providers.Identity, grants []mapping.Grant) error {
	sealed, err := s.sealer.seal(pendingPurpose, newPendingChoice(id, grants), pendingTTL)
	if err != nil {
		return err
	}
	if len(sealed) > maxPendingCookie {
		return fmt.Errorf("the pending role choice is %d bytes sealed, more than a browser cookie holds (%d): too many or too large grants (session tags)", len(sealed), maxPendingCookie)
	}
	http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: sealed, Path: "/roles", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(pendingTTL / time.Second)})
	return nil
}

// clearPending removes the pending cookie: a choice is used once.
func (s *Server) clearPending(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: "", Path: "/roles", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}
