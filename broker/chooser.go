package broker

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/google/uuid"

	"github.com/idbroker/idbroker/providers"
)

// After a browser sign-in (the password form, the OIDC callback, the SAML
// ACS) the identity is mapped: a single grant is issued at once, several
// are offered on the role chooser, whose choice travels sealed in a cookie
// (pending.go) and is issued without a second mapping.

// continueLogin maps a freshly authenticated identity and either issues the
// single grant or shows the role chooser.
func (s *Server) continueLogin(w http.ResponseWriter, r *http.Request, id providers.Identity) {
	dec := s.cfg.Mapper.Map(id)
	out, err := s.issue(r.Context(), id, dec, issueOptions{})
	if refusedAs(err, classChoiceRequired) {
		if err := s.setPending(w, id, dec.Grants); err != nil {
			rid := uuid.NewString()
			s.log.ErrorContext(r.Context(), "role choice not offered", slog.String("request_id", rid), slog.String("provider", id.Provider), slog.String("user", id.Username), slog.Any("err", err))
			s.renderError(w, http.StatusInternalServerError, "Something went wrong.", "", rid)
			return
		}
		http.Redirect(w, r, "/roles", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	s.renderCredentials(w, id, out)
}

func (s *Server) serveRolesForm(w http.ResponseWriter, r *http.Request) {
	pc, err := s.pending(r)
	if err != nil {
		s.fail(w, r, http.StatusForbidden, "Your sign-in has expired.", "Sign in again.", err)
		return
	}
	s.render(w, http.StatusOK, "roles.html", map[string]any{"Title": "Choose a role", "Username": pc.Username, "Grants": pc.decision().Grants, "CSRF": s.csrf(w, r)})
}

func (s *Server) serveRolesPost(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", "", err)
		return
	}
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "The form has expired.", "Sign in again.", errors.New("csrf token mismatch"))
		return
	}
	pc, err := s.pending(r)
	if err != nil {
		s.fail(w, r, http.StatusForbidden, "Your sign-in has expired.", "Sign in again.", err)
		return
	}
	chosen := r.PostForm["role"]
	if len(chosen) == 0 {
		s.fail(w, r, http.StatusBadRequest, "No role was chosen.", "Go back and tick at least one role.", errors.New("no role chosen"))
		return
	}
	// The rules' trace stayed at sign-in (grant.dropped there); the
	// chooser's decision holds only the roles it offered, which a refusal
	// lists.
	id := pc.identity()
	out, err := s.issue(r.Context(), id, pc.decision(), issueOptions{Roles: chosen})
	if refusedAs(err, classNotGranted, classNoGrant) {
		s.refusePage(w, r, err)
		return
	}
	// The choice is used up (an issuing failure uses it too): clear the
	// pending login.
	s.clearPending(w)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	s.renderCredentials(w, id, out)
}
