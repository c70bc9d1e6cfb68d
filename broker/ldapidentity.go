package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
)

// LDAPIdentityActionName is the MinIO-compatible STS Query API action.
const LDAPIdentityActionName = "AssumeRoleWithLDAPIdentity"

// LDAPIdentityResult is the <AssumeRoleWithLDAPIdentityResult> element: the
// shape minio-go's credentials.NewLDAPIdentity parses, plus the AWS
// AssumedRoleUser.
type LDAPIdentityResult struct {
	Credentials      sts.Credentials     `xml:"Credentials" json:"Credentials"`
	AssumedRoleUser  sts.AssumedRoleUser `xml:"AssumedRoleUser" json:"AssumedRoleUser"`
	SubjectFromToken string              `xml:"SubjectFromToken,omitempty" json:"SubjectFromToken,omitempty"`
	SourceIdentity   string              `xml:"SourceIdentity,omitempty" json:"SourceIdentity,omitempty"`
}

// Public messages of the action. Wrong password, unknown user, refused
// username and locked account share one message (no account oracle).
const (
	msgLDAPAuthFailed  = "Authentication failed: invalid LDAPUsername or LDAPPassword."
	msgLDAPUnavailable = "The identity provider could not be reached. Try again later."
	// A misconfigured directory is the operator's problem, not a wrong
	// password: the user is told so and the details are logged at ERROR.
	msgLDAPMisconfigured = "The identity provider is misconfigured; the login could not be checked. Tell the administrator."
	msgLDAPInternal      = "The login could not be completed."
)

// LDAPIdentityAction returns the STS Query API action
// AssumeRoleWithLDAPIdentity for the password provider named provider (an
// ldap provider). Register it with sts.Service.RegisterAction under
// LDAPIdentityActionName.
//
// Parameters: LDAPUsername, LDAPPassword (POST form body only), optional
// RoleArn, DurationSeconds (900–43200) and Policy (a session policy). The
// login goes through the same path as the browser form and the JSON API
// (brute-force protection included); the identity is mapped, and the chosen
// grant is issued the usual way (a signed broker token exchanged in process
// with AssumeRoleWithWebIdentity). Without RoleArn, a user with several
// grants gets AccessDenied naming the role ARNs to pick from.
func (s *Server) LDAPIdentityAction(provider string) (sts.ActionFunc, error) {
	p, ok := s.providers[provider]
	if !ok {
		return nil, fmt.Errorf("broker: %s: no provider %q", LDAPIdentityActionName, provider)
	}
	pa, ok := p.Impl.(providers.PasswordAuthenticator)
	if !ok {
		return nil, fmt.Errorf("broker: %s: provider %q does not take a username and password", LDAPIdentityActionName, provider)
	}
	return func(ctx context.Context, req *sts.Request) (any, error) {
		return s.assumeRoleWithLDAPIdentity(ctx, req, p, pa)
	}, nil
}

func stsErr(status int, code, msg string) *sts.Error {
	return &sts.Error{Code: code, Message: msg, Status: status}
}

func (s *Server) assumeRoleWithLDAPIdentity(ctx context.Context, req *sts.Request, p Provider, pa providers.PasswordAuthenticator) (any, error) {
	// A password in a URL ends up in access logs and browser history.
	if req.HTTP != nil && req.HTTP.URL.Query().Has("LDAPPassword") {
		return nil, stsErr(http.StatusBadRequest, "InvalidParameterValue", "LDAPPassword must be sent in the POST form body, never in the URL.")
	}
	username, okU := req.Lookup("LDAPUsername")
	password, okP := req.Lookup("LDAPPassword")
	if !okU || !okP {
		return nil, stsErr(http.StatusBadRequest, "MissingParameter", "LDAPUsername and LDAPPassword are required.")
	}
	if name, ok := req.Lookup("ConfigName"); ok && name != p.Name {
		return nil, stsErr(http.StatusBadRequest, "InvalidParameterValue", "ConfigName does not name the directory this endpoint uses.")
	}
	var requested time.Duration
	if v, ok := req.Lookup("DurationSeconds"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return nil, stsErr(http.StatusBadRequest, "ValidationError",
				"1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")
		}
		requested = time.Duration(n) * time.Second
	}
	roleARN, wantRole := req.Lookup("RoleArn")
	if wantRole && (len(roleARN) < 20 || len(roleARN) > 2048) {
		return nil, stsErr(http.StatusBadRequest, "ValidationError",
			"1 validation error detected: Value at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048")
	}
	policy := req.Get("Policy")

	id, err := s.passwordLogin(ctx, p, pa, username, password, req.SourceIP)
	if err != nil {
		switch kind, rid := s.loginFailed(ctx, p, err); kind {
		case failUnavailable:
			return nil, stsErr(http.StatusServiceUnavailable, "ServiceUnavailable", msgLDAPUnavailable)
		case failMisconfigured:
			return nil, stsErr(http.StatusInternalServerError, "InternalFailure", msgLDAPMisconfigured+" (broker request id "+rid+")")
		case failInternal:
			return nil, stsErr(http.StatusInternalServerError, "InternalFailure", msgLDAPInternal+" (broker request id "+rid+")")
		}
		return nil, stsErr(http.StatusForbidden, "AccessDenied", msgLDAPAuthFailed)
	}

	dec := s.cfg.Mapper.Map(id)
	var wanted []string
	if wantRole {
		wanted = []string{roleARN}
	}
	grants, err := s.pickAudited(ctx, id, dec, wanted)
	switch {
	case errors.Is(err, errChoiceRequired):
		return nil, stsErr(http.StatusForbidden, "AccessDenied",
			"Several roles are granted to this user: pass RoleArn with one of: "+strings.Join(grantARNs(dec.Grants), ", "))
	case errors.Is(err, errNotGranted):
		return nil, stsErr(http.StatusForbidden, "AccessDenied", "The requested role is not granted to this user.")
	case err != nil:
		return nil, stsErr(http.StatusForbidden, "AccessDenied", "No role is granted to this user.")
	}

	// The usual issuing path, with this request's session policy and
	// client address added to the in-process STS call: a shallow copy of
	// the server whose STS is wrapped for this request only. (Server holds
	// no lock; go vet's copylocks check would flag one added later.)
	w := &sessionSTS{STS: s.cfg.STS, policy: policy, sourceIP: req.SourceIP}
	view := *s
	view.cfg.STS = w
	is, err := view.issue(ctx, id, grants[0], requested)
	if err != nil {
		var se *sts.Error
		switch {
		case errors.As(err, &se):
			return nil, se
		case errors.Is(err, errDurationTooShort):
			return nil, stsErr(http.StatusForbidden, "AccessDenied", "The session would be shorter than 15 minutes.")
		}
		return nil, err
	}
	res := &LDAPIdentityResult{Credentials: is.Creds, AssumedRoleUser: sts.AssumedRoleUser{Arn: is.AssumedRoleARN}}
	if w.out != nil {
		res.AssumedRoleUser = w.out.AssumedRoleUser
		res.SourceIdentity = w.out.SourceIdentity
	}
	return res, nil
}

// sessionSTS adds a request's session policy and source address to the
// broker's in-process AssumeRoleWithWebIdentity call and keeps its output.
// One is made per request (not shared between goroutines).
type sessionSTS struct {
	STS
	policy, sourceIP string
	out              *sts.AssumeRoleWithWebIdentityOutput
}

// AssumeRoleWithWebIdentity implements STS.
func (w *sessionSTS) AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	c := *in
	c.Policy = w.policy
	c.SourceIP = w.sourceIP
	out, err := w.STS.AssumeRoleWithWebIdentity(ctx, &c)
	w.out = out
	return out, err
}
