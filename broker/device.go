package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/idbroker/idbroker/providers"
)

// The device authorization grant (RFC 8628) for a CLI without a browser of
// its own (an SSH session, a container): POST /oauth2/device_authorization
// gives it a device code (its secret) and a user code the person types at
// GET /device in any browser, signed in; the page shows which machine
// asked and when, and the person approves or denies once. The CLI polls
// POST /oauth2/token (devicetoken.go).

const (
	// deviceCodeTTL is how long a device request waits for the person
	// (expires_in).
	deviceCodeTTL = 10 * time.Minute
	// deviceInterval is the least time between two polls (interval); each
	// slow_down adds deviceSlowDown.
	deviceInterval = 5 * time.Second
	deviceSlowDown = 5 * time.Second
	// devicePollLeeway forgives a poll that comes this much early (the
	// network's jitter between two polls of a client keeping the interval).
	devicePollLeeway = time.Second
	// deviceRecordGrace keeps an expired request's record, so that a late
	// poll is answered expired_token rather than invalid_grant.
	deviceRecordGrace = 30 * time.Minute
	// userCodeAlphabet has no vowels (no words) and no look-alikes
	// (RFC 8628 §6.1): 20^8 codes.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
	maxDeviceName    = 64
	// deviceChoiceTTL bounds how long an approval page may be answered.
	deviceChoiceTTL     = 10 * time.Minute
	deviceChoicePurpose = "idb_oauth2_device/v1"
	userCodeHashLabel   = "idbroker oauth2 user code v1"
)

// Decisions of a device request.
const (
	deviceApproved = "approved"
	deviceDenied   = "denied"
)

// deviceRequest is the store's record of a device request, under its id
// (the first part of the device code) and listed under its user code's
// keyed hash.
type deviceRequest struct {
	ClientID   string    `json:"cl"`
	SecretHash []byte    `json:"h"`
	UserCode   string    `json:"u"`
	DeviceName string    `json:"n,omitempty"`
	ClientIP   string    `json:"ip"`
	Created    time.Time `json:"c"`
	Expires    time.Time `json:"e"`
	// Decision is "" while pending, then deviceApproved or deviceDenied by
	// the browser session Session.
	Decision string    `json:"d,omitempty"`
	Session  string    `json:"s,omitempty"`
	Decided  time.Time `json:"t,omitzero"`
}

func deviceID(rid string) string { return oauth2GrantPrefix + "device:" + rid }

func (s *Server) userCodeIndex(code string) string {
	return oauth2GrantPrefix + "user-code:" + s.keyedHash(userCodeHashLabel, code)
}

// deviceChoice is the sealed value of the approval page's form.
type deviceChoice struct {
	Session string `json:"s"`
	Device  string `json:"d"`
}

// deviceAuthResponse is the RFC 8628 §3.2 answer.
type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// newUserCode draws a user code uniformly from userCodeAlphabet.
func newUserCode() (string, error) {
	var b strings.Builder
	buf := make([]byte, 16)
	for b.Len() < userCodeLen {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			// 240 is the largest multiple of 20 below 256: no bias.
			if c < 240 && b.Len() < userCodeLen {
				b.WriteByte(userCodeAlphabet[c%20])
			}
		}
	}
	return b.String(), nil
}

// normalizeUserCode accepts a user code as typed: any case, with or
// without the hyphen, spaces around; ok is false for anything that cannot
// be one.
func normalizeUserCode(v string) (string, bool) {
	v = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(v)))
	if len(v) != userCodeLen {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(userCodeAlphabet, v[i]) < 0 {
			return "", false
		}
	}
	return v, true
}

// formatUserCode shows a user code as XXXX-XXXX.
func formatUserCode(c string) string { return c[:4] + "-" + c[4:] }

// checkDeviceName accepts the CLI's host name: up to 64 printable
// characters.
func checkDeviceName(n string) error {
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > maxDeviceName {
		return fmt.Errorf("device_name must be at most %d printable characters", maxDeviceName)
	}
	for _, c := range n {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("device_name must be at most %d printable characters", maxDeviceName)
		}
	}
	return nil
}

// serveDeviceAuthorization is POST /oauth2/device_authorization (RFC 8628
// §3.1) for the one client.
func (s *Server) serveDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, ok := readCLIForm(w, r)
	if !ok {
		return
	}
	client, e, ok := clientOf(r, form)
	if !ok {
		writeTokenError(w, e)
		return
	}
	name := strings.TrimSpace(form.Get("device_name"))
	if err := checkDeviceName(name); err != nil {
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_request", err.Error()))
		return
	}
	n, err := s.countDeviceRequest(ctx, clientIP(r))
	if err != nil {
		writeTokenError(w, oauthRefusal(s.sessionRefused(ctx, err), false))
		return
	}
	if n > deviceRequestLimit {
		s.audit(ctx, "oauth2.device_refused", providers.Identity{}, slog.String("client_ip", clientIP(r)), slog.String("reason", "too many device requests from this address"))
		writeTokenError(w, oauthErr(http.StatusTooManyRequests, "slow_down", "too many device requests from this address: wait a few minutes"))
		return
	}
	now := s.now()
	rid, err1 := randomB64(sessionIDBytes)
	secret, err2 := randomB64(sessionSecretBytes)
	if err := errors.Join(err1, err2); err != nil {
		writeTokenError(w, oauthRefusal(&refusal{class: classIssueInternal, err: err}, false))
		return
	}
	req := deviceRequest{ClientID: client, SecretHash: secretHash(secret), DeviceName: name, ClientIP: clientIP(r), Created: now, Expires: now.Add(deviceCodeTTL)}
	keep := req.Expires.Add(deviceRecordGrace)
	// A user code names one live request: draw again on the rare collision.
	for i := 0; i < 5 && req.UserCode == ""; i++ {
		code, err := newUserCode()
		if err != nil {
			writeTokenError(w, oauthRefusal(&refusal{class: classIssueInternal, err: err}, false))
			return
		}
		fresh, err := s.claim(ctx, s.userCodeIndex(code)+":taken", keep)
		if err != nil {
			writeTokenError(w, oauthRefusal(s.sessionRefused(ctx, err), false))
			return
		}
		if fresh {
			req.UserCode = code
		}
	}
	if req.UserCode == "" {
		writeTokenError(w, oauthRefusal(&refusal{class: classIssueInternal, err: errors.New("no free user code in 5 draws")}, false))
		return
	}
	if err := s.putGrant(ctx, deviceID(rid), req, keep, s.userCodeIndex(req.UserCode)); err != nil {
		writeTokenError(w, oauthRefusal(s.sessionRefused(ctx, err), false))
		return
	}
	s.audit(ctx, "oauth2.device_requested", providers.Identity{}, slog.String("device_request", rid), slog.String("device_name", name),
		slog.String("client_ip", req.ClientIP), slog.String("client_id", CLIClientID))
	verify := strings.TrimSuffix(s.cfg.PublicURL, "/") + "/device"
	shown := formatUserCode(req.UserCode)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, deviceAuthResponse{
		DeviceCode: rid + "." + secret, UserCode: shown,
		VerificationURI: verify, VerificationURIComplete: verify + "?user_code=" + shown,
		ExpiresIn: int64(deviceCodeTTL / time.Second), Interval: int64(deviceInterval / time.Second),
	})
}

// serveDevice is GET /device (and ?user_code=, the verification_uri_complete):
// signed in, the page to enter the code, filled in when the link carried
// it. Looking the code up is the form's POST (CSRF, counted).
func (s *Server) serveDevice(w http.ResponseWriter, r *http.Request) {
	code, _ := normalizeUserCode(r.URL.Query().Get("user_code"))
	se, err := s.cookieSession(r)
	switch {
	case refusedAs(err, classSessionUnavailable):
		s.refusePage(w, r, err)
		return
	case err != nil:
		s.signInFirst(w, r, resumeNote{Kind: "device", Query: code}, "")
		return
	}
	s.clearResume(w, r)
	shown := ""
	if code != "" {
		shown = formatUserCode(code)
	}
	s.renderDeviceEntry(w, r, se, http.StatusOK, shown, "")
}

func (s *Server) renderDeviceEntry(w http.ResponseWriter, r *http.Request, se *session, status int, code, msg string) {
	s.render(w, status, "device.html", map[string]any{
		"Title": "Sign in a device", "Step": "enter", "Username": se.Identity.Username, "User": personName(se), "UserCode": code,
		"Error": msg, "CSRF": s.csrf(w, r),
	})
}

// Texts of the code entry; an unknown, expired or used code get the same.
const (
	msgUserCodeShape   = "A code is 8 letters, like BCDF-GHJK. Check the code shown in your terminal."
	msgUserCodeInvalid = "That code is not valid. Check the code shown in your terminal: a code works once, for 10 minutes."
	msgUserCodeLimited = "Too many wrong codes. Wait a few minutes, then try again."
)

// serveDevicePost is POST /device: the code entered (look-up), or the
// answer on the approval page.
func (s *Server) serveDevicePost(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", "", err)
		return
	}
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "The form has expired.", "Reload the page and try again.", errors.New("csrf token mismatch"))
		return
	}
	se, err := s.cookieSession(r)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	if r.PostForm.Has("choice") {
		s.decideDevice(w, r, se)
		return
	}
	s.lookUpDevice(w, r, se)
}

// lookUpDevice finds the live, undecided request of the code typed and
// shows its approval page. Wrong codes count against the session and the
// client address; past the limit no code is looked up.
func (s *Server) lookUpDevice(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	lim := deviceLookupLimits(se.ID, clientIP(r))
	why, err := s.deviceLookupAdmitted(ctx, lim, r.PostFormValue("user_code"))
	if err != nil {
		s.refusePage(w, r, s.sessionRefused(ctx, err))
		return
	}
	code, ok := normalizeUserCode(r.PostFormValue("user_code"))
	switch {
	case why != "":
		s.audit(ctx, "oauth2.device_code_refused", se.Identity, slog.String("session_id", se.ID), slog.String("client_ip", clientIP(r)), slog.String("reason", why))
		s.renderDeviceEntry(w, r, se, http.StatusTooManyRequests, "", msgUserCodeLimited)
		return
	case !ok:
		s.renderDeviceEntry(w, r, se, http.StatusBadRequest, "", msgUserCodeShape)
		return
	}
	rid, req, err := s.findDevice(ctx, code)
	if err != nil && !errors.Is(err, errNoOAuthRecord) {
		s.refusePage(w, r, s.sessionRefused(ctx, err))
		return
	}
	if err != nil || req.Decision != "" || !s.now().Before(req.Expires) {
		if err := s.deviceWrong(ctx, lim); err != nil {
			s.refusePage(w, r, s.sessionRefused(ctx, err))
			return
		}
		s.audit(ctx, "oauth2.device_code_refused", se.Identity, slog.String("session_id", se.ID), slog.String("client_ip", clientIP(r)), slog.String("reason", "unknown, expired or used code"))
		s.renderDeviceEntry(w, r, se, http.StatusBadRequest, "", msgUserCodeInvalid)
		return
	}
	choice, err := s.sealer.seal(deviceChoicePurpose, deviceChoice{Session: se.ID, Device: rid}, min(deviceChoiceTTL, req.Expires.Sub(s.now())))
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong.", "", err)
		return
	}
	s.render(w, http.StatusOK, "device.html", map[string]any{
		"Title": "Sign in a device?", "Step": "confirm", "Username": se.Identity.Username, "User": personName(se), "UserCode": formatUserCode(code),
		"DeviceName": req.DeviceName, "ClientIP": req.ClientIP, "Requested": req.Created.UTC().Format("2 Jan 2006 15:04:05 MST"),
		"CSRF": s.csrf(w, r), "Choice": choice,
	})
}

// findDevice returns the request listed under the user code.
func (s *Server) findDevice(ctx context.Context, code string) (string, deviceRequest, error) {
	lctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	recs, err := s.cfg.Store.ListSessions(lctx, s.userCodeIndex(code))
	cancel()
	if err != nil {
		return "", deviceRequest{}, fmt.Errorf("%w: %w", errSessionStore, err)
	}
	for _, rec := range recs {
		var req deviceRequest
		rid, ok := strings.CutPrefix(rec.ID, deviceID(""))
		if !ok || s.sealer.openMax(grantPurpose(rec.ID), string(rec.Data), maxSealedCookie, &req) != nil || req.UserCode != code {
			continue
		}
		return rid, req, nil
	}
	return "", deviceRequest{}, errNoOAuthRecord
}

// decideDevice records the answer of the approval page, once per request
// (claimed in the store, whichever browser answers first).
func (s *Server) decideDevice(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	var c deviceChoice
	if err := s.sealer.open(deviceChoicePurpose, r.PostFormValue("choice"), &c); err != nil || c.Session != se.ID {
		s.fail(w, r, http.StatusBadRequest, "This page has expired.", "Enter the code again.", errors.New("device choice missing, expired or of another session"))
		return
	}
	decision := ""
	switch r.PostFormValue("decision") {
	case "approve":
		decision = deviceApproved
	case "deny":
		decision = deviceDenied
	default:
		s.fail(w, r, http.StatusBadRequest, "Choose Approve or Deny.", "", errors.New("no decision"))
		return
	}
	var req deviceRequest
	err := s.getGrant(ctx, deviceID(c.Device), &req)
	switch {
	case errors.Is(err, errNoOAuthRecord) || (err == nil && !s.now().Before(req.Expires)):
		s.fail(w, r, http.StatusBadRequest, "This code has expired.", "Start again in your terminal.", errors.New("device request expired"))
		return
	case err != nil:
		s.refusePage(w, r, s.sessionRefused(ctx, err))
		return
	}
	fresh, err := s.claim(ctx, oauth2GrantPrefix+"device-decided:"+c.Device, req.Expires.Add(deviceRecordGrace))
	if err != nil {
		s.refusePage(w, r, s.sessionRefused(ctx, err))
		return
	}
	if !fresh {
		s.fail(w, r, http.StatusConflict, "This code was approved or denied already.", "Start again in your terminal if you need to.", errors.New("device request decided already"))
		return
	}
	req.Decision, req.Session, req.Decided = decision, se.ID, s.now()
	if err := s.putGrant(ctx, deviceID(c.Device), req, req.Expires.Add(deviceRecordGrace), s.userCodeIndex(req.UserCode)); err != nil {
		s.refusePage(w, r, s.sessionRefused(ctx, err))
		return
	}
	s.audit(ctx, "oauth2.device_"+decision, se.Identity, slog.String("session_id", se.ID), slog.String("device_request", c.Device),
		slog.String("device_name", req.DeviceName), slog.String("device_ip", req.ClientIP), slog.String("client_ip", clientIP(r)))
	title := "Device signed in"
	if decision == deviceDenied {
		title = "Request denied"
	}
	s.render(w, http.StatusOK, "device.html", map[string]any{
		"Title": title, "Step": decision, "Username": se.Identity.Username, "User": personName(se), "DeviceName": req.DeviceName, "CSRF": s.csrf(w, r),
	})
}
