package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/mfa"
)

// GET /api/v1/admin/sessions[?user=U][&provider=P][&limit=N][&cursor=C]:
// the sessions an administrator may end, a page at a time: of one user (at
// one provider or every configured one), of one provider, or all. Records of
// ended sessions and of sessions expired less than 12 hours ago are listed
// too (their credentials may still be alive): "live" tells them apart.

const (
	// defaultSessionsLimit and maxSessionsLimit bound a page of the listing.
	defaultSessionsLimit = 100
	maxSessionsLimit     = adminPageSize
	// sessionsCursorTTL is how long a next_cursor stays usable.
	sessionsCursorTTL = time.Hour
)

// adminSessionView is one session as the listing shows it (no token, no
// identity attributes).
type adminSessionView struct {
	ID            string   `json:"id"`
	Provider      string   `json:"provider"`
	User          string   `json:"user"`
	Method        string   `json:"method"`
	Carrier       string   `json:"carrier"`
	CreatedAt     string   `json:"created_at"`
	ExpiresAt     string   `json:"expires_at"`
	LastRecheckAt string   `json:"last_recheck_at"`
	Live          bool     `json:"live"`
	Ended         bool     `json:"ended"`
	EndedAt       string   `json:"ended_at,omitempty"`
	EndReason     string   `json:"end_reason,omitempty"`
	Roles         []string `json:"roles"`
}

// sessionsPage answers the listing. NextCursor is set when more may
// follow; Unreadable counts records met that do not open (sealed under
// another cookie key).
type sessionsPage struct {
	Sessions   []adminSessionView `json:"sessions"`
	NextCursor string             `json:"next_cursor,omitempty"`
	Unreadable int                `json:"unreadable,omitempty"`
}

// sessionsCursor is where a listing goes on: the query it belongs to,
// the index (by number) and the store's cursor in it. Sealed, so that a
// caller cannot hand the store a cursor of its own making.
type sessionsCursor struct {
	Query string `json:"q"`
	Index int    `json:"i"`
	Store string `json:"c"`
}

const sessionsCursorPurpose = "idb_admin_sessions/v1"

func (s *Server) serveListSessions(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, ok := readAdminRequest(w, r, false)
	if !ok {
		return
	}
	caller, ok := s.adminCaller(w, r, body, ListSessionsAction, "sessions.refused")
	if !ok {
		return
	}
	bad := func(err error) {
		writeAPIRefusal(w, &refusal{class: classBadAdminRequest, err: err, detail: err.Error()})
	}
	q := r.URL.Query()
	for k, v := range q {
		if !slices.Contains([]string{"user", "provider", "limit", "cursor"}, k) {
			bad(fmt.Errorf("unknown query parameter %q: give user, provider, limit, cursor", truncate(k, 64)))
			return
		}
		if len(v) != 1 {
			bad(fmt.Errorf("give %s at most once", k))
			return
		}
	}
	user, provider := q.Get("user"), q.Get("provider")
	for name, v := range map[string]string{"user": user, "provider": provider} {
		if err := checkText(name, v); err != nil {
			bad(err)
			return
		}
	}
	limit := defaultSessionsLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSessionsLimit {
			bad(fmt.Errorf("limit must be 1 to %d", maxSessionsLimit))
			return
		}
		limit = n
	}
	query := user + "\x00" + provider
	cur := sessionsCursor{Query: query}
	if v := q.Get("cursor"); v != "" {
		if err := s.sealer.open(sessionsCursorPurpose, v, &cur); err != nil || cur.Query != query {
			bad(errors.New("cursor is not a next_cursor of this listing (or is older than an hour)"))
			return
		}
	}
	var indexes []string
	switch {
	case user != "":
		for _, p := range s.providerNames(provider) {
			indexes = append(indexes, userIndex(p, user))
		}
	case provider != "":
		indexes = []string{providerIndex(provider)}
	default:
		indexes = []string{""}
	}
	want := casefold.Unicode(user)
	keep := func(se *session) bool {
		return user == "" || (casefold.Unicode(se.Identity.Username) == want && (provider == "" || se.Identity.Provider == provider))
	}
	out := sessionsPage{Sessions: []adminSessionView{}}
	now := s.now()
	for cur.Index >= 0 && cur.Index < len(indexes) && len(out.Sessions) < limit {
		page, next, err := s.walkIndex(ctx, indexes[cur.Index], cur.Store, limit-len(out.Sessions))
		if err != nil {
			writeAPIRefusal(w, s.sessionRefused(ctx, err))
			return
		}
		for _, f := range page {
			switch {
			case f.se == nil && mfa.IsRecord(f.id):
				// A TOTP enrolment (internal/mfa), listed with the sessions.
			case f.se == nil:
				out.Unreadable++
			case keep(f.se):
				out.Sessions = append(out.Sessions, viewSession(f.se, now))
			}
		}
		cur.Store = next
		if next == "" {
			cur.Index++
		}
	}
	if cur.Index >= 0 && cur.Index < len(indexes) {
		sealed, err := s.sealer.seal(sessionsCursorPurpose, cur, sessionsCursorTTL)
		if err != nil {
			writeAPIRefusal(w, &refusal{class: classIssueInternal, err: err})
			return
		}
		out.NextCursor = sealed
	}
	slices.SortStableFunc(out.Sessions, func(a, b adminSessionView) int { return compareStr(a.CreatedAt, b.CreatedAt) })
	s.auditAPI(ctx, "sessions.listed", r, caller, slog.String("query_user", user), slog.String("query_provider", provider),
		slog.Int("sessions", len(out.Sessions)))
	writeJSON(w, http.StatusOK, out)
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// viewSession is se as the listing shows it at now.
func viewSession(se *session, now time.Time) adminSessionView {
	v := adminSessionView{
		ID: se.ID, Provider: se.Identity.Provider, User: se.Identity.Username, Method: se.Method, Carrier: se.Carrier,
		CreatedAt: apiTime(se.Created), ExpiresAt: apiTime(se.Expires), LastRecheckAt: apiTime(se.Checked),
		Live: se.live(now), Ended: !se.Ended.IsZero(), EndReason: se.EndReason, Roles: orEmpty(se.Roles),
	}
	if v.Ended {
		v.EndedAt = apiTime(se.Ended)
	}
	return v
}
