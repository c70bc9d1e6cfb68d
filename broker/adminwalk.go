package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/store"
)

// Finding the sessions an administrator names: every record listed under
// the selector's index keys, walked page by page to the end
// (store.ListSessionsPage), so that a user or group with more sessions than
// one listing holds is reached whole. Records of ended and expired sessions
// are found too (the store keeps them until their credentials can no longer
// be alive): a revocation must reach those credentials as well.

// adminPageSize is the page of a walk (store.MaxListSessions).
const adminPageSize = store.MaxListSessions

// found is a session record met by a walk: se is nil when the record does
// not open (sealed under another cookie key): the id is kept, so that a
// revocation still covers it.
type found struct {
	id string
	se *session
}

// walkIndex reads one page of index from cursor and returns the records met
// and the next cursor ("" at the end).
func (s *Server) walkIndex(ctx context.Context, index, cursor string, limit int) ([]found, string, error) {
	ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
	defer cancel()
	recs, next, err := s.cfg.Store.ListSessionsPage(ctx, index, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", errSessionStore, err)
	}
	out := make([]found, 0, len(recs))
	for _, rec := range recs {
		f := found{id: rec.ID}
		if se, err := s.openSession(rec); err == nil {
			f.se = se
		}
		out = append(out, f)
	}
	return out, next, nil
}

// walkAll walks each index to its end and calls visit, once per session,
// for the records for which keep holds (keep sees nil for a record that
// does not open). It holds only the ids met, however many there are.
func (s *Server) walkAll(ctx context.Context, indexes []string, keep func(*session) bool, visit func(found)) error {
	seen := map[string]bool{}
	for _, index := range indexes {
		cursor := ""
		for {
			page, next, err := s.walkIndex(ctx, index, cursor, adminPageSize)
			if err != nil {
				return err
			}
			for _, f := range page {
				if !seen[f.id] && keep(f.se) {
					seen[f.id] = true
					visit(f)
				}
			}
			if next == "" {
				break
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%w: %w", errSessionStore, err)
			}
			cursor = next
		}
	}
	return nil
}

// providerNames are the providers a selector covers: the one named, or
// every provider of the configuration in force. (A provider no longer
// configured must be named: its name still reaches its sessions.)
func (s *Server) providerNames(provider string) []string {
	if provider != "" {
		return []string{provider}
	}
	out := make([]string, 0, len(s.cfg.Providers))
	for _, p := range s.cfg.Providers {
		out = append(out, p.Name)
	}
	return out
}

// userSessions visits the sessions of user (compared as the index folds
// names) at provider, or at every configured provider.
func (s *Server) userSessions(ctx context.Context, user, provider string, visit func(found)) error {
	var indexes []string
	for _, p := range s.providerNames(provider) {
		indexes = append(indexes, userIndex(p, user))
	}
	want := casefold.Unicode(user)
	return s.walkAll(ctx, indexes, func(se *session) bool {
		// A record that does not open is kept: its index key named the user.
		return se == nil || (casefold.Unicode(se.Identity.Username) == want &&
			(provider == "" || se.Identity.Provider == provider))
	}, visit)
}

// groupSessions visits the sessions whose identity had group (compared as
// the rules compare names, casefold.Unicode) at its last re-check, at
// provider or at every configured provider: the group's index and the
// sessions with too many groups to index, filtered.
func (s *Server) groupSessions(ctx context.Context, group, provider string, visit func(found)) error {
	var indexes []string
	for _, p := range s.providerNames(provider) {
		indexes = append(indexes, groupIndex(p, group), groupOverflowIndex(p))
	}
	want := casefold.Unicode(group)
	return s.walkAll(ctx, indexes, func(se *session) bool {
		if se == nil {
			return true // fail safe: its id is covered
		}
		if provider != "" && se.Identity.Provider != provider {
			return false
		}
		for _, g := range se.Identity.Groups {
			if casefold.Unicode(g) == want {
				return true
			}
		}
		return false
	}, visit)
}

// oneSession visits the session id; an id the store does not know is
// still visited (found.se nil), so that a revocation covers its
// credentials whatever the store lost.
func (s *Server) oneSession(ctx context.Context, id string, visit func(found)) error {
	se, err := s.loadSession(ctx, id)
	switch {
	case errors.Is(err, errNoSession):
		visit(found{id: id})
		return nil
	case err != nil:
		return err
	}
	visit(found{id: id, se: se})
	return nil
}
