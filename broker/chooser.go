package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// The role page: after a sign-in, and whenever the browser's session is
// live, GET /roles offers the roles the rules in force grant the session's
// identity, and POST /roles issues the ones ticked and shows them once.
//
// Each rendering of the form carries a fresh choice: a random id sealed
// with the session's id, which the POST claims in the store before it
// issues. A choice is thus used once, from any browser: a reload of the
// credentials page (the browser posts the form again) or a copied form is
// answered with the role page again, without credentials, and the old
// secrets are never shown twice.

const (
	choicePurpose = "idb_choice/v1"
	// choiceTTL bounds how long a rendered role page may be submitted.
	choiceTTL = 10 * time.Minute
)

// roleChoice is the sealed value of the form's choice field.
type roleChoice struct {
	Session string `json:"s"`
	ID      string `json:"c"`
}

// Notices of a role page shown again instead of credentials.
const (
	noticeChoiceUsed    = "Those credentials were shown once and are not shown again. Choose below to get new ones."
	noticeChoiceExpired = "That page had expired. Choose below to get credentials."
)

func (s *Server) serveRolesForm(w http.ResponseWriter, r *http.Request) {
	se, err := s.cookieSession(r)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	s.renderRoles(w, r, se, http.StatusOK, "")
}

// renderRoles shows the roles the rules in force grant se's identity, with
// a fresh choice; no role at all is the no-grant refusal (audited).
func (s *Server) renderRoles(w http.ResponseWriter, r *http.Request, se *session, status int, notice string) {
	ctx := r.Context()
	id := se.identity()
	if _, ok := s.providers[id.Provider]; !ok {
		s.refusePage(w, r, &refusal{class: classInvalidSession, err: fmt.Errorf("provider %q is no longer configured", id.Provider)})
		return
	}
	dec := s.cfg.Mapper.Map(id)
	if len(dec.Grants) == 0 || dec.Outcome == "deny" {
		s.auditRefused(ctx, id, dec, errNoGrant, slog.String("session_id", se.ID))
		s.refusePage(w, r, &refusal{class: classNoGrant, err: errNoGrant})
		return
	}
	s.auditDropped(ctx, id, dec)
	cid, err := randomB64(16)
	var choice string
	if err == nil {
		choice, err = s.sealer.seal(choicePurpose, roleChoice{Session: se.ID, ID: cid}, choiceTTL)
	}
	if err != nil {
		s.refusePage(w, r, &refusal{class: classLoginInternal, err: err})
		return
	}
	s.render(w, status, "roles.html", map[string]any{
		"Title": "Choose a role", "Username": id.Username, "Grants": dec.Grants, "Several": len(dec.Grants) > 1,
		"CSRF": s.csrf(w, r), "Choice": choice, "Notice": notice,
	})
}

func (s *Server) serveRolesPost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", "", err)
		return
	}
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "The form has expired.", "Sign in again.", errors.New("csrf token mismatch"))
		return
	}
	se, err := s.cookieSession(r)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	var c roleChoice
	if err := s.sealer.open(choicePurpose, r.PostFormValue("choice"), &c); err != nil || c.Session != se.ID {
		// Expired, forged, or rendered for another session.
		s.audit(ctx, "choice.refused", se.Identity, slog.String("session_id", se.ID), slog.String("reason", "choice missing, expired or of another session"))
		s.renderRoles(w, r, se, http.StatusConflict, noticeChoiceExpired)
		return
	}
	chosen := r.PostForm["role"]
	if len(chosen) == 0 {
		s.fail(w, r, http.StatusBadRequest, "No role was chosen.", "Go back and tick at least one role.", errors.New("no role chosen"))
		return
	}
	fresh, err := s.claimChoice(ctx, c.ID)
	if err != nil {
		s.refusePage(w, r, s.sessionRefused(ctx, err))
		return
	}
	if !fresh {
		s.audit(ctx, "choice.refused", se.Identity, slog.String("session_id", se.ID), slog.String("client_ip", clientIP(r)), slog.String("reason", "choice already used"))
		s.renderRoles(w, r, se, http.StatusConflict, noticeChoiceUsed)
		return
	}
	out, err := s.issueFromSession(ctx, se, issueOptions{Roles: chosen})
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	s.renderCredentials(w, r, se.Identity.Username, out)
}

// claimChoice claims a choice id in the store: true the first time, on any
// replica; an error when the store cannot say (errSessionStore).
func (s *Server) claimChoice(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
	defer cancel()
	fresh, err := s.cfg.Store.Claim(ctx, "role-choice:"+id, s.now().Add(choiceTTL+time.Minute))
	if err != nil {
		return false, errors.Join(errSessionStore, err)
	}
	return fresh, nil
}
