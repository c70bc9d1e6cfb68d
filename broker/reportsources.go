package broker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/reports"
	"github.com/idbroker/idbroker/providers"
)

// What the reports (internal/reports, Config.Reports) read of the broker:
// its audit events and the authorize API's decisions as they happen, and,
// when a credential report is made, each person's live sessions and
// lock-out.

// recordAudit feeds an audit event to the credential report (audit calls
// it; the reports match on event names, see reports.AuditKind). It never
// waits.
func (s *Server) recordAudit(event string, id providers.Identity, attrs []slog.Attr) {
	if s.cfg.Reports == nil || id.Provider == "" || id.Username == "" {
		return
	}
	var role, reason string
	for _, a := range attrs {
		switch a.Key {
		case "role":
			role = a.Value.String()
		case "reason":
			reason = a.Value.String()
		}
	}
	kind, ok := reports.AuditKind(event, reason)
	if !ok {
		return
	}
	ev := reports.PersonEvent{Kind: kind, Provider: id.Provider, Username: id.Username, At: s.now()}
	switch kind {
	case reports.Issue:
		ev.Role = role
	case reports.Revoked:
		ev.Note = reason
	}
	s.cfg.Reports.Person(ev)
}

// recordAccess feeds an authorize decision to the access advisor. It never
// waits.
func (s *Server) recordAccess(roleARN, principal, action string, allowed bool) {
	if s.cfg.Reports == nil {
		return
	}
	s.cfg.Reports.Access(reports.AccessEvent{RoleARN: roleARN, Action: action, Principal: principal, Allowed: allowed, At: s.now()})
}

// reportSources implements reports.PersonSources on the broker's store.
type reportSources struct{ s *Server }

// ActiveSessions counts the live sessions of username at provider (folded
// as the user index folds it).
func (rs reportSources) ActiveSessions(ctx context.Context, provider, username string) (int, error) {
	s := rs.s
	now := s.now()
	want := casefold.Unicode(username)
	n := 0
	keep := func(se *session) bool {
		return se != nil && se.live(now) && se.Identity.Provider == provider && casefold.Unicode(se.Identity.Username) == want
	}
	err := s.walkAll(ctx, []string{userIndex(provider, username)}, keep, func(found) { n++ })
	if err != nil {
		return 0, err
	}
	return n, nil
}

// LockedUntil is when the lock-out of the name username at provider ends
// (zero: not locked, or the protection is off): the lock of its
// (provider, username) counter in the store.
func (rs reportSources) LockedUntil(ctx context.Context, provider, username string) (time.Time, error) {
	l := rs.s.lockout
	if l == nil || l.cfg.Disabled {
		return time.Time{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	for _, b := range l.buckets(provider, username, "") {
		if b.kind != "user" {
			continue
		}
		d, err := l.store.TTL(ctx, b.key("lock"))
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %w", errSessionStore, err)
		}
		if d > 0 {
			return rs.s.now().Add(d), nil
		}
	}
	return time.Time{}, nil
}
