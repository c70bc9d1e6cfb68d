package broker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/idbroker/idbroker/internal/ratelimit"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
)

// A refused login or issuance is classified once, where it happens (the
// password login, the token login, the choice of grants, the issuing), as
// a *refusal. Each surface turns it into its own answer from one table:
// the JSON API (writeAPIRefusal), the STS Query API action (stsRefusal), the
// OAuth token endpoint (oauthRefusal) and the browser (refusePage,
// refuseLogin).

// failClass is the kind of a refusal, which decides every surface's answer.
type failClass int

const (
	// classInvalidCredentials: a password login refused for an unknown
	// user, a wrong or empty password or a locked account (one answer).
	classInvalidCredentials failClass = iota + 1
	// classProviderUnavailable: the provider (or the login-protection
	// store) cannot be reached or did not answer in time.
	classProviderUnavailable
	// classProviderMisconfigured: the provider is misconfigured
	// (providers.ErrConfiguration: a user search matching several entries,
	// a referral, a refused service bind). Logged at ERROR.
	classProviderMisconfigured
	// classLoginInternal: a password login failed with an error wrapping
	// none of the providers' sentinels. Logged at ERROR.
	classLoginInternal
	// classTokenRefused: an ID token presented directly was refused.
	classTokenRefused
	// classTokenUnavailable: the provider's keys for an ID token cannot be
	// had.
	classTokenUnavailable
	// classChoiceRequired: several roles are granted and none was named.
	// Not a refusal of anything asked for: the caller is told to choose.
	classChoiceRequired
	// classNotGranted: a role asked for is not granted to the user.
	classNotGranted
	// classNoGrant: no role is granted to the user.
	classNoGrant
	// classSTSRefused: the STS refused to issue (its *sts.Error).
	classSTSRefused
	// classSessionTooShort: the upstream login ends before the shortest
	// session the STS issues.
	classSessionTooShort
	// classIssueInternal: issuing failed for another reason (signing).
	classIssueInternal
	// classInvalidSession: a session token or cookie that is malformed,
	// unknown, wrong, ended or expired.
	classInvalidSession
	// classSessionUnavailable: the state store (sessions, login failure
	// counters, one-time claims) cannot be read or written (fail closed:
	// nothing is issued, no check is skipped).
	classSessionUnavailable
	// classAccountGone: a re-check found the session's person gone or
	// disabled upstream; the session has ended.
	classAccountGone
	// classGrantLost: a role the session was granted is no longer granted
	// by the rules in force (a re-check, a configuration reload). Names
	// the role.
	classGrantLost
	// classUnsupportedMediaType: a JSON endpoint got a body not declared
	// as application/json.
	classUnsupportedMediaType
	// classAccessDenied: an administrators' API caller whose role or
	// policies do not allow the action (the detail names both).
	classAccessDenied
	// classBadAdminRequest: a malformed administrators' API request (the
	// detail says what is wrong).
	classBadAdminRequest
	// classRevocationUnrecorded: a revocation that could not be recorded
	// in the shared store, or whose sessions could not all be ended (the
	// detail says what holds and what to do).
	classRevocationUnrecorded
	// classThrottled: an issuance over a rate limit (ratelimit.go); the
	// answers say when to retry (refusal.retryAfter).
	classThrottled
	// classMFARequired: the session (or the sign-in) has no multi-factor
	// authentication and the provider's policy or a role asks for it (the
	// detail says what asks and what to send; mfa.go).
	classMFARequired
	// classMFAInvalid: a TOTP or recovery code that is wrong, used
	// already, sent while locked out, or of a person with no enrolment
	// (the detail says which of the last, never the others apart).
	classMFAInvalid
)

// refusal is a refused request, classified for the answers.
type refusal struct {
	class failClass
	// err is the private reason: logged and audited, never shown.
	err error
	// rid is the request id of a failure that was logged (the broker's
	// fault); the answer quotes it.
	rid string
	// role is the role ARN an issuing failure concerns.
	role string
	// roles are the roles to choose from (classChoiceRequired).
	roles []string
	// sts is the STS's own refusal (classSTSRefused).
	sts *sts.Error
	// detail is the public part of an administrators' API refusal,
	// appended to its answer's text (apiDetail).
	detail string
	// retryAfter is when a throttled request may be tried again: the
	// JSON API, the token endpoint and the browser send it as Retry-After.
	retryAfter time.Duration
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refusalOf returns the refusal err is or wraps, and its answer. An error
// that is no refusal, or a class a surface never meets (a zero answer), is
// answered as the broker's own fault.
func refusalOf(err error) (*refusal, answer) {
	var r *refusal
	if !errors.As(err, &r) {
		r = &refusal{class: classIssueInternal, err: err}
	}
	return r, answers[r.class]
}

// internalAnswer is the answer to a refusal a surface should never meet.
var internalAnswer = answer{
	apiStatus: http.StatusInternalServerError, apiCode: "InternalError", apiText: "the request could not be completed",
	oauthStatus: http.StatusInternalServerError, oauthCode: "server_error", oauthText: "the request could not be completed",
	pageStatus: http.StatusInternalServerError, pageText: "Something went wrong.", pageHint: hintTryPortal,
}

// refusedAs reports whether err is a refusal of one of classes.
func refusedAs(err error, classes ...failClass) bool {
	var r *refusal
	return errors.As(err, &r) && slices.Contains(classes, r.class)
}

// answer is what one class of refusal looks like on each surface.
type answer struct {
	// JSON API: {"error": {"code", "message"}} with the status.
	apiStatus        int
	apiCode, apiText string
	// STS Query API action: the AWS error (an *sts.Error).
	stsStatus        int
	stsCode, stsText string
	// OAuth token endpoint: an RFC 6749 §5.2 error.
	oauthStatus          int
	oauthCode, oauthText string
	// Browser: the page's status, message and hint. With form set the
	// sign-in form is shown again with the message (the user can retry);
	// otherwise the plain error page.
	pageStatus         int
	pageText, pageHint string
	form               bool
	// pageRole, apiRole: the page's (the JSON API's) text ends with the
	// role ARN concerned.
	pageRole, apiRole bool
	// apiDetail: the JSON API's text ends with the refusal's detail.
	apiDetail bool
	// bearer: the JSON answer is a refused bearer token (RFC 6750: a
	// WWW-Authenticate challenge with error="invalid_token").
	bearer bool
	// quoteRID: the JSON and STS answers quote the request id the failure
	// was logged under (the broker's own faults).
	quoteRID bool
}

// Public texts of the STS action; wrong password, unknown user, refused
// username and locked account share one (no account oracle).
const (
	msgLDAPAuthFailed  = "Authentication failed: invalid LDAPUsername or LDAPPassword."
	msgLDAPUnavailable = "The identity provider could not be reached. Try again later."
	// A misconfigured directory is the operator's problem, not a wrong
	// password: the user is told so and the details are logged at ERROR.
	msgLDAPMisconfigured = "The identity provider is misconfigured; the login could not be checked. Tell the administrator."
	msgLDAPInternal      = "The login could not be completed."
	// hintNotYourPassword is the browser's hint for the broker's own faults.
	hintNotYourPassword = "Your password was not the problem. Try again later, or tell your administrator."
	// hintTryPortal is the browser's hint when issuing failed.
	hintTryPortal = "Try again from the portal. If it keeps failing, tell your administrator and quote the request ID below."
)

// answers is the table from refusal class to every surface's answer. A
// zero field means the surface never meets the class (the browser has no ID
// token login here; the STS action no token at all). Some answers carry
// the refusal's own data (the roles to choose from, the STS's error, the
// role ARN, the request id): the surface functions below add it.
var answers = map[failClass]answer{
	classInvalidCredentials: {
		apiStatus: http.StatusUnauthorized, apiCode: "InvalidCredentials", apiText: "invalid username or password",
		stsStatus: http.StatusForbidden, stsCode: "AccessDenied", stsText: msgLDAPAuthFailed,
		pageStatus: http.StatusUnauthorized, pageText: "Invalid username or password.", form: true,
	},
	classProviderUnavailable: {
		apiStatus: http.StatusServiceUnavailable, apiCode: "ProviderUnavailable", apiText: "the identity provider cannot be reached; try again later",
		stsStatus: http.StatusServiceUnavailable, stsCode: "ServiceUnavailable", stsText: msgLDAPUnavailable,
		oauthStatus: http.StatusServiceUnavailable, oauthCode: "temporarily_unavailable", oauthText: "the identity provider cannot be reached; try again later",
		pageStatus: http.StatusServiceUnavailable, pageText: "The identity provider cannot be reached right now. Try again later.", form: true,
	},
	classProviderMisconfigured: {
		apiStatus: http.StatusInternalServerError, apiCode: "ProviderMisconfigured", apiText: "the identity provider is misconfigured; this is not a wrong password: tell the administrator",
		stsStatus: http.StatusInternalServerError, stsCode: "InternalFailure", stsText: msgLDAPMisconfigured,
		pageStatus: http.StatusInternalServerError, pageText: "This sign-in method is misconfigured.", pageHint: hintNotYourPassword,
		quoteRID: true,
	},
	classLoginInternal: {
		apiStatus: http.StatusInternalServerError, apiCode: "InternalError", apiText: "the login could not be completed",
		stsStatus: http.StatusInternalServerError, stsCode: "InternalFailure", stsText: msgLDAPInternal,
		pageStatus: http.StatusInternalServerError, pageText: "Something went wrong.", pageHint: hintNotYourPassword,
		quoteRID: true,
	},
	classTokenRefused: {
		apiStatus: http.StatusUnauthorized, apiCode: "InvalidToken", apiText: "the ID token was refused",
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_grant", oauthText: "the subject token was refused",
	},
	classTokenUnavailable: {
		apiStatus: http.StatusServiceUnavailable, apiCode: "ProviderUnavailable", apiText: "the identity provider's keys cannot be obtained; try again later",
		oauthStatus: http.StatusServiceUnavailable, oauthCode: "temporarily_unavailable", oauthText: "the identity provider's keys cannot be obtained; try again later",
	},
	classChoiceRequired: { // + the roles to choose from
		apiStatus: http.StatusConflict, apiCode: "RoleChoiceRequired", apiText: `several roles are granted: name one with "role"`,
		stsStatus: http.StatusForbidden, stsCode: "AccessDenied", stsText: "Several roles are granted to this user: pass RoleArn with one of: ",
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_request", oauthText: "several roles are granted: name one with resource or scope",
	},
	classNotGranted: { // OAuth: invalid_scope when the role came from scope
		apiStatus: http.StatusForbidden, apiCode: "RoleNotGranted", apiText: "the requested role is not granted to this user",
		stsStatus: http.StatusForbidden, stsCode: "AccessDenied", stsText: "The requested role is not granted to this user.",
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_target", oauthText: "the requested role is not granted to this user",
		pageStatus: http.StatusForbidden, pageText: "That role is not granted to you.", pageHint: "The portal lists the roles you have now.",
	},
	classNoGrant: {
		apiStatus: http.StatusForbidden, apiCode: "NoRoleGranted", apiText: "no role is granted to this user",
		stsStatus: http.StatusForbidden, stsCode: "AccessDenied", stsText: "No role is granted to this user.",
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_grant", oauthText: "no role is granted to this user",
		pageStatus: http.StatusForbidden, pageText: "You signed in, but no role is granted to you.", pageHint: "Ask your administrator for access.",
	},
	classSTSRefused: { // API and STS: the STS's own error; OAuth: + its code, or server_error for a fault
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_grant", oauthText: "credentials could not be issued: ",
		pageStatus: http.StatusForbidden, pageText: "Credentials could not be issued for ", pageRole: true, pageHint: hintTryPortal,
	},
	classSessionTooShort: {
		apiStatus: http.StatusForbidden, apiCode: "SessionTooShort", apiText: "the upstream login expires in less than 15 minutes: sign in again",
		stsStatus: http.StatusForbidden, stsCode: "AccessDenied", stsText: "The session would be shorter than 15 minutes.",
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_grant", oauthText: "the subject token expires in less than 15 minutes",
		pageStatus: http.StatusForbidden, pageText: "Credentials could not be issued for ", pageRole: true,
		pageHint: "Your sign-in at the identity provider ends in less than 15 minutes: sign out and sign in again.",
	},
	classInvalidSession: {
		apiStatus: http.StatusUnauthorized, apiCode: "InvalidSession", apiText: "the session token is invalid, expired or ended: create a new session", bearer: true,
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_grant", oauthText: "the browser sign-in that allowed this has ended or expired: sign in again",
		pageStatus: http.StatusForbidden, pageText: "Your sign-in has expired.", pageHint: "Sign in again.",
	},
	classSessionUnavailable: {
		apiStatus: http.StatusServiceUnavailable, apiCode: "ServiceUnavailable", apiText: "the broker's state store cannot be reached; try again later",
		stsStatus: http.StatusServiceUnavailable, stsCode: "ServiceUnavailable", stsText: "The broker's state store cannot be reached. Try again later.",
		oauthStatus: http.StatusServiceUnavailable, oauthCode: "temporarily_unavailable", oauthText: "the broker's state store cannot be reached; try again later",
		pageStatus: http.StatusServiceUnavailable, pageText: "Sign-in is unavailable right now. Try again later.", pageHint: hintNotYourPassword,
	},
	classAccountGone: {
		apiStatus: http.StatusUnauthorized, apiCode: "InvalidSession", apiText: "the session has ended: the account no longer exists or is disabled upstream", bearer: true,
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_grant", oauthText: "the sign-in has ended: the account no longer exists or is disabled upstream",
		pageStatus: http.StatusForbidden, pageText: "Your sign-in has ended: your account no longer exists or is disabled.", pageHint: "Ask your administrator.",
	},
	classGrantLost: {
		apiStatus: http.StatusForbidden, apiCode: "RoleNoLongerGranted", apiText: "this role is no longer granted to this user: ", apiRole: true,
		pageStatus: http.StatusForbidden, pageText: "This role is no longer granted to you: ", pageRole: true,
		pageHint: "The portal lists the roles you have now.",
	},
	classUnsupportedMediaType: {
		apiStatus: http.StatusUnsupportedMediaType, apiCode: "UnsupportedMediaType", apiText: "the request body must be JSON: send Content-Type: application/json",
	},
	classAccessDenied: {
		apiStatus: http.StatusForbidden, apiCode: "AccessDenied", apiDetail: true,
	},
	classBadAdminRequest: {
		apiStatus: http.StatusBadRequest, apiCode: "InvalidRequest", apiDetail: true,
	},
	classRevocationUnrecorded: {
		apiStatus: http.StatusServiceUnavailable, apiCode: "ServiceUnavailable", apiDetail: true,
	},
	classThrottled: { // + Retry-After (the STS's Throttling has none, as at AWS)
		apiStatus: http.StatusTooManyRequests, apiCode: "Throttling", apiText: "rate exceeded: too many credentials asked for; retry after the time in Retry-After",
		stsStatus: http.StatusBadRequest, stsCode: "Throttling", stsText: "Rate exceeded",
		oauthStatus: http.StatusTooManyRequests, oauthCode: "temporarily_unavailable", oauthText: "rate exceeded: too many credentials asked for; retry after the time in Retry-After",
		pageStatus: http.StatusTooManyRequests, pageText: "Too many credentials were asked for in a short time.", pageHint: "Wait a minute, then try again from the portal.",
	},
	classMFARequired: { // + what asks for it and what to do
		apiStatus: http.StatusUnauthorized, apiCode: "MFARequired", apiText: "multi-factor authentication is required", apiDetail: true,
		stsStatus: http.StatusForbidden, stsCode: "AccessDenied", stsText: "Multi-factor authentication is required: get credentials from the broker's portal or API with a TOTP code.",
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_grant", oauthText: "multi-factor authentication is required: get credentials from the broker's API with a TOTP code",
		pageStatus: http.StatusUnauthorized, pageText: "This needs multi-factor authentication.", pageHint: "Enter a code from your authenticator app on the portal's MFA page.",
	},
	classMFAInvalid: {
		apiStatus: http.StatusUnauthorized, apiCode: "InvalidMFACode", apiText: "the TOTP or recovery code is wrong or was used already", apiDetail: true,
		stsStatus: http.StatusForbidden, stsCode: "AccessDenied", stsText: "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
		oauthStatus: http.StatusBadRequest, oauthCode: "invalid_grant", oauthText: "the TOTP or recovery code is wrong or was used already",
		pageStatus: http.StatusUnauthorized, pageText: "That code is wrong or was used already.", pageHint: "Wait for the next code of your authenticator app and try again.",
		quoteRID: true,
	},
	classIssueInternal: { // STS: the error itself, which the Query API answers as InternalFailure (logged)
		apiStatus: http.StatusInternalServerError, apiCode: "InternalError", apiText: "credentials could not be issued",
		oauthStatus: http.StatusInternalServerError, oauthCode: "server_error", oauthText: "credentials could not be issued",
		pageStatus: http.StatusForbidden, pageText: "Credentials could not be issued for ", pageRole: true, pageHint: hintTryPortal,
	},
}

// loginRefused classifies a refused password login and logs what the
// operator must act on: a misconfiguration or an unexpected error at ERROR,
// an outage at WARN (the refusal itself is audited by passwordLogin), under
// a request id the answer quotes. The error chains logged never hold a
// password: providers do not put one in an error.
func (s *Server) loginRefused(ctx context.Context, p Provider, err error) *refusal {
	r := &refusal{err: err}
	switch {
	case errors.Is(err, providers.ErrInvalidCredentials):
		r.class = classInvalidCredentials
		return r
	case errors.Is(err, store.ErrUnavailable):
		// The login-protection counters cannot be read or written: the
		// broker's own store is out, not the provider.
		r.class = classSessionUnavailable
	case errors.Is(err, providers.ErrConfiguration):
		r.class = classProviderMisconfigured
	case errors.Is(err, providers.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		r.class = classProviderUnavailable
	default:
		r.class = classLoginInternal
	}
	r.rid = uuid.NewString()
	attrs := []any{slog.String("request_id", r.rid), slog.String("provider", p.Name), slog.Any("err", err)}
	switch r.class {
	case classProviderMisconfigured:
		s.log.ErrorContext(ctx, "password login failed: the provider is misconfigured", attrs...)
	case classProviderUnavailable:
		s.log.WarnContext(ctx, "password login failed: the provider is unavailable", attrs...)
	case classSessionUnavailable:
		s.log.WarnContext(ctx, "password login failed: the state store is unavailable", attrs...)
	default:
		s.log.ErrorContext(ctx, "password login failed: unexpected error", attrs...)
	}
	return r
}

// tokenRefused classifies a refused ID token: the provider's keys could not
// be had (providers.ErrUnavailable), or the token is refused.
func tokenRefused(err error) *refusal {
	if errors.Is(err, providers.ErrUnavailable) {
		return &refusal{class: classTokenUnavailable, err: err}
	}
	return &refusal{class: classTokenRefused, err: err}
}

// writeAPIRefusal answers the JSON API.
func writeAPIRefusal(w http.ResponseWriter, err error) {
	r, a := refusalOf(err)
	switch {
	case r.class == classSTSRefused:
		writeAPIError(w, r.sts.Status, r.sts.Code, r.sts.Message)
		return
	case a.apiStatus == 0:
		a = internalAnswer
	}
	body := apiErrorBody{Code: a.apiCode, Message: a.apiText}
	if a.apiRole {
		body.Message += r.role
	}
	if a.apiDetail {
		body.Message += r.detail
	}
	if a.bearer {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if a.quoteRID {
		body.RequestID = r.rid
	}
	if r.class == classChoiceRequired {
		body.Roles = r.roles
	}
	setRetryAfter(w, r)
	writeJSON(w, a.apiStatus, apiError{Error: body})
}

// stsRefusal is the STS action's answer: an *sts.Error, or for an internal
// issuing failure the error itself, which the Query API answers with
// InternalFailure and logs.
func stsRefusal(err error) error {
	r, a := refusalOf(err)
	switch {
	case r.class == classSTSRefused:
		return r.sts
	case a.stsStatus == 0:
		return r.err
	}
	msg := a.stsText
	if r.class == classChoiceRequired {
		msg += strings.Join(r.roles, ", ")
	}
	if a.quoteRID {
		msg += " (broker request id " + r.rid + ")"
	}
	return &sts.Error{Code: a.stsCode, Message: msg, Status: a.stsStatus}
}

// oauthRefusal is the token endpoint's answer; roleFromScope says the role
// asked for came from the scope parameter (invalid_scope, not
// invalid_target, when it is not granted).
func oauthRefusal(err error, roleFromScope bool) oauthError {
	r, a := refusalOf(err)
	switch {
	case r.class == classSTSRefused && r.sts.Status >= http.StatusInternalServerError:
		a = answers[classIssueInternal]
	case a.oauthStatus == 0:
		a = internalAnswer
	}
	e := oauthErr(a.oauthStatus, a.oauthCode, a.oauthText)
	e.retryAfter = r.retryAfter
	switch r.class {
	case classChoiceRequired:
		e.Desc += " (" + strings.Join(r.roles, " ") + ")"
	case classNotGranted:
		if roleFromScope {
			e.Code = "invalid_scope"
		}
	case classSTSRefused:
		if r.sts.Status < http.StatusInternalServerError {
			e.Desc += r.sts.Code
		}
	}
	return e
}

// refusePage answers a browser after sign-in (the choice of grants, the
// issuing) with the plain error page; the refusal is logged under a new
// request id the page quotes.
func (s *Server) refusePage(w http.ResponseWriter, req *http.Request, err error) {
	r, a := refusalOf(err)
	if a.pageStatus == 0 {
		a = internalAnswer
	}
	text := a.pageText
	if a.pageRole {
		text += r.role + "."
	}
	setRetryAfter(w, r)
	s.fail(w, req, a.pageStatus, text, a.pageHint, r.err)
}

// refuseLogin answers a refused browser password login: the sign-in form
// again with the message when the user can retry, else the plain error
// page quoting the request id the failure was logged under.
func (s *Server) refuseLogin(w http.ResponseWriter, req *http.Request, p Provider, username string, err error) {
	r, a := refusalOf(err)
	if a.pageStatus == 0 {
		s.refusePage(w, req, err)
		return
	}
	if !a.form {
		s.renderError(w, a.pageStatus, a.pageText, a.pageHint, r.rid)
		return
	}
	s.renderLoginForm(w, req, a.pageStatus, p, a.pageText, username)
}

// setRetryAfter sends a throttled refusal's Retry-After (whole seconds).
func setRetryAfter(w http.ResponseWriter, r *refusal) {
	if r.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(r.retryAfter)))
	}
}
