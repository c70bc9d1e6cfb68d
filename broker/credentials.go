package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// The credentials page is reached by a redirect after the portal's issuing
// POST (portal.go) and shows the keys exactly once. Between the two
// requests the keys wait in the browser's session record, which is sealed
// with the broker's cookie key in the store (the store never sees them in
// clear), under a random id that the redirect names: the GET claims
// "credentials-view:<id>" in the store before it shows them (so they are
// shown once, on any replica) and drops them from the session. A reload, a
// Back, a copied URL or a second tab finds the id claimed and gets the
// portal with a notice, from which the session gives new keys; the secrets
// never reach a URL, a cookie or a cache (Cache-Control: no-store).

const (
	// pendingTTL bounds how long issued keys wait for their one read.
	pendingTTL = 5 * time.Minute
	// maxPending bounds the keys waiting in one session (several tabs);
	// the oldest give way.
	maxPending = 4
	// viewPurpose prefixes the store claim of a shown view.
	viewPurpose = "credentials-view:"
)

// pendingCredentials are keys issued to a browser and not yet shown, kept
// in its session (session.Pending). They are secrets: they live only inside
// the sealed session record, never in an answer of any API.
type pendingCredentials struct {
	ID      string       `json:"id"`
	Expires time.Time    `json:"expires"`
	Issued  []issuedView `json:"issued"`
}

// issuedView is one set of credentials on the credentials page.
type issuedView struct {
	RoleARN         string        `json:"role_arn"`
	RoleName        string        `json:"role_name"`
	Account         string        `json:"account"`
	AssumedRoleARN  string        `json:"assumed_role_arn"`
	AccessKeyID     string        `json:"access_key_id"`
	SecretAccessKey string        `json:"secret_access_key"`
	SessionToken    string        `json:"session_token"`
	Expiration      time.Time     `json:"expiration"`
	Duration        time.Duration `json:"duration"`
	DurationNote    string        `json:"duration_note,omitempty"`
	Profile         string        `json:"profile"`
}

func viewOf(is *issued) issuedView {
	name := awsspec.RoleNameFromARN(is.Grant.RoleARN)
	return issuedView{
		RoleARN: is.Grant.RoleARN, RoleName: name, Account: awsspec.AccountOf(is.Grant.RoleARN),
		AssumedRoleARN: is.AssumedRole.Arn,
		AccessKeyID:    is.Creds.AccessKeyID, SecretAccessKey: is.Creds.SecretAccessKey, SessionToken: is.Creds.SessionToken,
		Expiration: is.Creds.Expiration.UTC(), Duration: is.Duration, DurationNote: is.DurationNote,
		Profile: name,
	}
}

// dropStalePending keeps the pending keys of se that may still be shown.
func (se *session) dropStalePending(now time.Time) {
	kept := se.Pending[:0]
	for _, p := range se.Pending {
		if now.Before(p.Expires) {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	se.Pending = kept
}

// holdForOneRead puts the keys of out into se for one read and returns the
// id the credentials page is reached by.
func (s *Server) holdForOneRead(ctx context.Context, se *session, out []*issued) (string, error) {
	id, err := randomB64(16)
	if err != nil {
		return "", &refusal{class: classIssueInternal, err: fmt.Errorf("view id: %w", err)}
	}
	views := make([]issuedView, 0, len(out))
	for _, is := range out {
		views = append(views, viewOf(is))
	}
	se.dropStalePending(s.now())
	if len(se.Pending) >= maxPending {
		se.Pending = se.Pending[len(se.Pending)-maxPending+1:]
	}
	se.Pending = append(se.Pending, pendingCredentials{ID: id, Expires: s.now().Add(pendingTTL), Issued: views})
	if err := s.updateSession(ctx, se); err != nil {
		return "", s.sessionRefused(ctx, err)
	}
	return id, nil
}

// takePending returns the keys se holds under the view id and takes them
// out of se, after claiming the id in the store: the first read only, on
// any replica. ok is false for a view shown already, expired or not se's.
// An error means the store cannot say.
func (s *Server) takePending(ctx context.Context, se *session, id string) ([]issuedView, bool, error) {
	i := slices.IndexFunc(se.Pending, func(p pendingCredentials) bool { return p.ID == id })
	if i < 0 {
		return nil, false, nil
	}
	held := se.Pending[i]
	ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
	defer cancel()
	fresh, err := s.cfg.Store.Claim(ctx, viewPurpose+id, s.now().Add(pendingTTL+time.Minute))
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", errSessionStore, err)
	}
	se.Pending = slices.Delete(se.Pending, i, i+1)
	switch err := s.updateSession(ctx, se); {
	case errors.Is(err, errNoSession):
		// Ended meanwhile (a sign-out in another tab): nothing more is shown.
		return nil, false, nil
	case err != nil:
		// The claim makes the read single already; the keys stay sealed
		// in the record until it is written again or expires.
		s.log.WarnContext(ctx, "shown credentials could not be dropped from the session", slog.String("session_id", se.ID), slog.Any("err", err))
	}
	if !fresh || !s.now().Before(held.Expires) {
		return nil, false, nil
	}
	return held.Issued, true, nil
}

// serveCredentialsPage is GET /portal/credentials/{view}: the keys the
// portal issued, once.
func (s *Server) serveCredentialsPage(w http.ResponseWriter, r *http.Request) {
	se, ok := s.portalSession(w, r)
	if !ok {
		return
	}
	id := r.PathValue("view")
	if len(id) != sessionIDLen {
		s.renderPortal(w, r, se, http.StatusOK, noticeShownOnce)
		return
	}
	views, fresh, err := s.takePending(r.Context(), se, id)
	switch {
	case err != nil:
		s.refusePage(w, r, s.sessionRefused(r.Context(), err))
		return
	case !fresh:
		s.audit(r.Context(), "credentials.view_refused", se.Identity, slog.String("session_id", se.ID), slog.String("client_ip", clientIP(r)),
			slog.String("reason", "shown already, expired or unknown"))
		s.renderPortal(w, r, se, http.StatusOK, noticeShownOnce)
		return
	}
	title := "Your credentials"
	if len(views) == 1 {
		title = "Credentials for " + views[0].RoleName
	}
	s.render(w, http.StatusOK, "credentials.html", map[string]any{
		"Title": title, "User": personName(se), "CSRF": s.csrf(w, r), "Issued": views,
		"PublicURL": s.cfg.PublicURL, "Region": s.region(), "Provider": se.Identity.Provider,
	})
}

// region is the region the check command names.
func (s *Server) region() string {
	if s.cfg.Region == "" {
		return "us-east-1"
	}
	return s.cfg.Region
}
