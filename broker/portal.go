package broker

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// The portal: after a sign-in, GET /portal shows who is signed in, with
// which provider, until when, and one card per role the rules in force
// grant them (name, description, account, longest session) with a duration
// and "Get credentials"; with several roles, roles can be ticked and had at
// once. POST /portal/credentials (CSRF token and one-time choice,
// chooser.go) issues from the session and redirects (303) to the
// credentials page, which shows the keys once (credentials.go).

// roleCard is one granted role on the portal.
type roleCard struct {
	ARN, Name, Description, Account string
	// Max is the longest session the grant allows.
	Max       time.Duration
	Durations []durationOption
}

// durationOption is one choice of the duration select.
type durationOption struct {
	Seconds  int
	Label    string
	Selected bool
}

// durationSteps are the durations offered, up to a grant's maximum (which
// is offered too when it is none of them).
var durationSteps = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour}

// defaultPortalDuration is the duration selected first (AWS's default),
// or the grant's maximum when that is shorter.
const defaultPortalDuration = awsspec.DefaultSessionDuration

// maxPortalRoles bounds the roles one form may ask for.
const maxPortalRoles = 32

func durationOptions(maxDur time.Duration) []durationOption {
	maxDur = max(maxDur, awsspec.MinSessionDuration)
	def := min(defaultPortalDuration, maxDur)
	var out []durationOption
	for _, d := range durationSteps {
		if d > maxDur {
			break
		}
		out = append(out, durationOption{Seconds: int(d / time.Second), Label: humanDuration(d), Selected: d == def})
	}
	if last := out[len(out)-1]; last.Seconds != int(maxDur/time.Second) {
		out = append(out, durationOption{Seconds: int(maxDur / time.Second), Label: humanDuration(maxDur), Selected: maxDur == def})
	}
	return out
}

// personName is how the header and the portal name the session's person.
func personName(se *session) string {
	if se.Identity.DisplayName != "" {
		return se.Identity.DisplayName
	}
	return se.Identity.Username
}

// portalSession returns the browser's live session, or answers itself: a
// browser without a session cookie goes to the start page (303); a cookie
// of a session that has ended or expired is cleared and answered with the
// page saying so; a store that cannot say is the unavailable page.
func (s *Server) portalSession(w http.ResponseWriter, r *http.Request) (*session, bool) {
	if _, err := r.Cookie(s.sessionCookieName()); err != nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil, false
	}
	se, err := s.cookieSession(r)
	if err != nil {
		if refusedAs(err, classInvalidSession, classAccountGone) {
			s.clearSessionCookie(w)
		}
		s.refusePage(w, r, err)
		return nil, false
	}
	return se, true
}

// servePortal is GET /portal.
func (s *Server) servePortal(w http.ResponseWriter, r *http.Request) {
	se, ok := s.portalSession(w, r)
	if !ok || s.stepUpFirst(w, r, se) {
		return
	}
	s.renderPortal(w, r, se, http.StatusOK, "")
}

// serveRolesRedirect is GET /roles, the role page of earlier versions: the
// portal took its place.
func (s *Server) serveRolesRedirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/portal", http.StatusSeeOther)
}

// renderPortal shows the roles the rules in force grant se's identity (after
// a re-check at the upstream when one is due, recheck.go), with a fresh
// choice. No role at all is the no-grant refusal (audited), shown
// on the portal itself so that the person can still sign out.
func (s *Server) renderPortal(w http.ResponseWriter, r *http.Request, se *session, status int, notice string) {
	ctx := r.Context()
	// What the session could issue now: the upstream asked again when a
	// re-check is due, the rules in force.
	id, dec, err := s.recheck(ctx, se)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	p := s.providers[id.Provider]
	choice, err := s.newChoice(se.ID)
	if err != nil {
		s.refusePage(w, r, &refusal{class: classLoginInternal, err: err})
		return
	}
	data := map[string]any{
		"Title": "Your AWS access", "User": personName(se), "CSRF": s.csrf(w, r), "Choice": choice, "Notice": notice,
		"Person": personName(se), "ProviderName": displayName(p), "Expires": se.Expires, "PublicURL": s.cfg.PublicURL,
		"MFAPage": s.cfg.MFA != nil,
	}
	if se.Identity.DisplayName != "" {
		data["Username"] = se.Identity.Username
	}
	if len(dec.Grants) == 0 || dec.Outcome == "deny" {
		s.auditRefused(ctx, id, dec, errNoGrant, slog.String("session_id", se.ID))
		a := answers[classNoGrant]
		data["Error"] = a.pageText + " " + a.pageHint
		s.render(w, a.pageStatus, "portal.html", data)
		return
	}
	s.auditDropped(ctx, id, dec)
	cards := make([]roleCard, 0, len(dec.Grants))
	for _, g := range dec.Grants {
		cards = append(cards, roleCard{
			ARN: g.RoleARN, Name: awsspec.RoleNameFromARN(g.RoleARN), Description: g.Description,
			Account: awsspec.AccountOf(g.RoleARN), Max: g.MaxDuration, Durations: durationOptions(g.MaxDuration),
		})
	}
	data["Cards"], data["Several"] = cards, len(cards) > 1
	s.render(w, status, "portal.html", data)
}

// servePortalIssue is POST /portal/credentials: the roles asked for (a
// card's own button, "only", or the ticked "role" boxes), each for the
// duration its card's select names, issued from the session; then a 303
// to the credentials page.
func (s *Server) servePortalIssue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", "Go back to the portal and try again.", err)
		return
	}
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "The form has expired.", "Go back to the portal, reload it, and try again.", errors.New("csrf token mismatch"))
		return
	}
	se, ok := s.portalSession(w, r)
	if !ok {
		return
	}
	c, ok := s.openChoice(se.ID, r.PostFormValue("choice"))
	if !ok {
		s.audit(ctx, "choice.refused", se.Identity, slog.String("session_id", se.ID), slog.String("reason", "choice missing, expired or of another session"))
		s.renderPortal(w, r, se, http.StatusConflict, noticeChoiceExpired)
		return
	}
	roles := chosenRoles(r.PostForm)
	switch {
	case len(roles) == 0:
		s.renderPortal(w, r, se, http.StatusBadRequest, noticeNoneChosen)
		return
	case len(roles) > maxPortalRoles:
		s.fail(w, r, http.StatusBadRequest, "Too many roles were asked for at once.", "Go back to the portal and tick fewer roles.", errors.New("too many roles"))
		return
	}
	fresh, err := s.claimChoice(ctx, c.ID)
	if err != nil {
		s.refusePage(w, r, s.sessionRefused(ctx, err))
		return
	}
	if !fresh {
		s.audit(ctx, "choice.refused", se.Identity, slog.String("session_id", se.ID), slog.String("client_ip", clientIP(r)), slog.String("reason", "choice already used"))
		s.renderPortal(w, r, se, http.StatusConflict, noticeChoiceUsed)
		return
	}
	var out []*issued
	for _, role := range roles {
		is, err := s.issueFromSession(ctx, se, issueOptions{Roles: []string{role}, Duration: requestedDuration(r.PostForm, role)})
		if err != nil {
			if !s.portalMFARefused(w, r, se, err) {
				s.refusePage(w, r, err)
			}
			return
		}
		out = append(out, is...)
	}
	view, err := s.holdForOneRead(ctx, se, out)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/portal/credentials/"+view, http.StatusSeeOther)
}

// chosenRoles are the roles a portal form asks for: the card button's
// "only", else the ticked "role" boxes (each once, in order).
func chosenRoles(form url.Values) []string {
	if only := form.Get("only"); only != "" {
		return []string{only}
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range form["role"] {
		if r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// requestedDuration is the duration the form's select names for role (0,
// the default, for none or one out of AWS's bounds); the grant's caps
// shorten it further (issue.go).
func requestedDuration(form url.Values, role string) time.Duration {
	n, err := strconv.ParseInt(form.Get("duration:"+role), 10, 64)
	if err != nil || !awsspec.ValidDurationSeconds(n) {
		return 0
	}
	return time.Duration(n) * time.Second
}
