package broker

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/mfa"
)

// The portal's MFA pages (templates/mfa.html), for the browser's session:
//
//	GET  /portal/mfa          the person's MFA: enrolled or not, a way to enrol
//	POST /portal/mfa/enrol    begin: the QR code (a PNG the broker renders,
//	                          as a data: URL, which pageCSP allows) and the
//	                          secret as text, and the first code to type
//	POST /portal/mfa/confirm  confirm: the recovery codes, shown once
//	GET  /portal/mfa/verify   the step-up: a code from the app (or a recovery code)
//	POST /portal/mfa/verify   check it; the session has MFA from now on
//
// Every POST carries the CSRF token. A sign-in that needs a second factor
// (signInNeedsMFA) comes to the step-up first, then goes on where the
// sign-in was going (afterSignIn); a role that needs MFA sends the
// portal's request here too.

const (
	// mfaEnrolPurpose seals the pending secret into the enrolment form, so
	// that a mistyped code can be tried again with the same QR code.
	mfaEnrolPurpose = "idb_mfa_enrol/v1\x00"
	// qrSize is the QR code's side in pixels.
	qrSize = 256
)

func (s *Server) mfaPortalRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/mfa", s.serveMFAPage)
	mux.HandleFunc("POST /portal/mfa/enrol", s.serveMFAEnrol)
	mux.HandleFunc("POST /portal/mfa/confirm", s.serveMFAConfirm)
	mux.HandleFunc("GET /portal/mfa/verify", s.serveStepUpPage)
	mux.HandleFunc("POST /portal/mfa/verify", s.serveStepUp)
}

// mfaPageData is what every MFA page shows of the session.
func (s *Server) mfaPageData(w http.ResponseWriter, r *http.Request, se *session, title, view string) map[string]any {
	return map[string]any{"Title": title, "View": view, "User": personName(se), "CSRF": s.csrf(w, r)}
}

// mfaForm checks a MFA page's POST (form, CSRF) and returns the browser's
// session, or answers itself.
func (s *Server) mfaForm(w http.ResponseWriter, r *http.Request) (*session, bool) {
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", "Go back to the portal and try again.", err)
		return nil, false
	}
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "The form has expired.", "Go back to the portal, reload it, and try again.", errors.New("csrf token mismatch"))
		return nil, false
	}
	return s.portalSession(w, r)
}

// serveMFAPage is GET /portal/mfa.
func (s *Server) serveMFAPage(w http.ResponseWriter, r *http.Request) {
	se, ok := s.portalSession(w, r)
	if !ok {
		return
	}
	enrolled, err := s.enrolled(r.Context(), se.Identity)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	data := s.mfaPageData(w, r, se, "Multi-factor authentication", "settings")
	data["Enrolled"] = enrolled
	data["SessionMFA"] = withMFA(se.identity(), se.MFAAt).MFA
	data["Policy"] = s.providerMFA(se.Identity.Provider)
	s.render(w, http.StatusOK, "mfa.html", data)
}

// serveMFAEnrol is POST /portal/mfa/enrol: a new pending enrolment.
func (s *Server) serveMFAEnrol(w http.ResponseWriter, r *http.Request) {
	se, ok := s.mfaForm(w, r)
	if !ok {
		return
	}
	en, err := s.beginTOTP(r, se)
	switch {
	case errors.Is(err, mfa.ErrEnrolled):
		s.fail(w, r, http.StatusConflict, "An authenticator app is set up already.", "To replace it, ask an administrator to reset it first.", err)
		return
	case err != nil:
		s.refusePage(w, r, err)
		return
	}
	s.renderEnrol(w, r, se, en, http.StatusOK, "")
}

// renderEnrol shows the QR code and the secret of en with the form for
// the first code (msg: why the last one was refused).
func (s *Server) renderEnrol(w http.ResponseWriter, r *http.Request, se *session, en mfa.Enrollment, status int, msg string) {
	png, err := qrcode.Encode(en.URI, qrcode.Medium, qrSize)
	if err != nil {
		s.refusePage(w, r, &refusal{class: classLoginInternal, err: err})
		return
	}
	sealed, err := s.sealer.seal(mfaEnrolPurpose+se.ID, en, mfa.PendingTTL)
	if err != nil {
		s.refusePage(w, r, &refusal{class: classLoginInternal, err: err})
		return
	}
	data := s.mfaPageData(w, r, se, "Set up an authenticator app", "enrol")
	data["QR"] = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	data["Secret"], data["Pending"], data["Error"] = groupSecret(en.Secret), sealed, msg
	s.render(w, status, "mfa.html", data)
}

// groupSecret writes a base32 secret in groups of four, as people copy it.
func groupSecret(secret string) string {
	var b bytes.Buffer
	for i, c := range secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// serveMFAConfirm is POST /portal/mfa/confirm: the first code; the
// recovery codes are shown once.
func (s *Server) serveMFAConfirm(w http.ResponseWriter, r *http.Request) {
	se, ok := s.mfaForm(w, r)
	if !ok {
		return
	}
	codes, err := s.confirmTOTP(r, se, r.PostFormValue("code"))
	switch {
	case errors.Is(err, mfa.ErrEnrolled):
		s.fail(w, r, http.StatusConflict, "An authenticator app is set up already.", "To replace it, ask an administrator to reset it first.", err)
		return
	case errors.Is(err, mfa.ErrNoPending):
		s.fail(w, r, http.StatusConflict, "The setup has expired.", "Start again from the portal's MFA page: setups last 10 minutes.", err)
		return
	case refusedAs(err, classMFAInvalid):
		var en mfa.Enrollment
		if s.sealer.open(mfaEnrolPurpose+se.ID, r.PostFormValue("pending"), &en) != nil {
			s.fail(w, r, http.StatusConflict, "The setup has expired.", "Start again from the portal's MFA page: setups last 10 minutes.", err)
			return
		}
		s.renderEnrol(w, r, se, en, http.StatusUnauthorized, "That code is wrong. Type the code your app shows now.")
		return
	case err != nil:
		s.refusePage(w, r, err)
		return
	}
	data := s.mfaPageData(w, r, se, "Your recovery codes", "recovery")
	data["Codes"] = codes
	s.render(w, http.StatusOK, "mfa.html", data)
}

// stepUpData is the step-up page: why a code is asked for (role: the role
// ARN that asks, "" for the sign-in) and whether the person can answer.
func (s *Server) stepUpData(w http.ResponseWriter, r *http.Request, se *session, role, msg string) (map[string]any, error) {
	enrolled, err := s.enrolled(r.Context(), se.Identity)
	if err != nil {
		return nil, err
	}
	data := s.mfaPageData(w, r, se, "Enter your code", "verify")
	data["Enrolled"], data["Error"] = enrolled, msg
	if role != "" {
		data["Role"] = awsspec.RoleNameFromARN(role)
	}
	return data, nil
}

// serveStepUpPage is GET /portal/mfa/verify.
func (s *Server) serveStepUpPage(w http.ResponseWriter, r *http.Request) {
	se, ok := s.portalSession(w, r)
	if !ok {
		return
	}
	s.renderStepUp(w, r, se, http.StatusOK, "", "")
}

// renderStepUp shows the step-up page (role: the role that asked).
func (s *Server) renderStepUp(w http.ResponseWriter, r *http.Request, se *session, status int, role, msg string) {
	data, err := s.stepUpData(w, r, se, role, msg)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	s.render(w, status, "mfa.html", data)
}

// serveStepUp is POST /portal/mfa/verify: a TOTP code or a recovery code
// (one field: six digits are a TOTP code); then on to where the sign-in
// was going, or the portal.
func (s *Server) serveStepUp(w http.ResponseWriter, r *http.Request) {
	se, ok := s.mfaForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	code := r.PostFormValue("code")
	c := mfaCodes{Recovery: code}
	if mfa.IsTOTPCode(trimCode(code)) {
		c = mfaCodes{TOTP: trimCode(code)}
	}
	at, err := s.verifyMFA(ctx, withMFA(se.identity(), se.MFAAt), c, clientIP(r))
	if err == nil {
		err = s.stepUp(ctx, se, at)
	}
	switch {
	case refusedAs(err, classMFAInvalid):
		ref, a := refusalOf(err)
		msg := a.pageText + " " + a.pageHint
		if ref.detail != "" {
			msg = "That code cannot be used" + ref.detail + "."
		}
		s.renderStepUp(w, r, se, a.pageStatus, "", msg)
		return
	case err != nil:
		s.refusePage(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.afterSignIn(w, r), http.StatusSeeOther)
}

// trimCode drops the spaces around a typed code and inside it ("123 456"
// as some apps show it).
func trimCode(code string) string {
	return string(bytes.ReplaceAll(bytes.TrimSpace([]byte(code)), []byte(" "), nil))
}

// stepUpFirst sends a browser whose session must bring a second factor
// before anything else (signInNeedsMFA) to the step-up page, and reports
// whether it did. A store that cannot say is the refusal page.
func (s *Server) stepUpFirst(w http.ResponseWriter, r *http.Request, se *session) bool {
	need, err := s.signInNeedsMFA(r.Context(), withMFA(se.identity(), se.MFAAt))
	if err != nil {
		s.refusePage(w, r, err)
		return true
	}
	if !need {
		return false
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/portal/mfa/verify", http.StatusSeeOther)
	return true
}

// portalMFARefused answers a portal issuance refused for want of MFA with
// the step-up page naming the role, and reports whether err was that.
func (s *Server) portalMFARefused(w http.ResponseWriter, r *http.Request, se *session, err error) bool {
	var ref *refusal
	if !errors.As(err, &ref) || ref.class != classMFARequired {
		return false
	}
	s.audit(r.Context(), "mfa.step_up_asked", se.Identity, slog.String("session_id", se.ID), slog.String("role", ref.role))
	s.renderStepUp(w, r, se, http.StatusUnauthorized, ref.role, "")
	return true
}
