package broker

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/idbroker/idbroker/internal/awsspec"
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

// LDAPIdentityAction returns the STS Query API action
// AssumeRoleWithLDAPIdentity for the password provider named provider (an
// ldap provider). Register it with sts.Service.RegisterAction under
// LDAPIdentityActionName.
//
// Parameters: LDAPUsername, LDAPPassword (POST form body only), optional
// RoleArn, DurationSeconds (900–43200) and Policy (a session policy). The
// login goes through the same path as the browser form and the JSON API
// (brute-force protection included); the identity is mapped, and the chosen
// grant is issued the usual way (issue.go: a signed broker token exchanged
// in process with AssumeRoleWithWebIdentity, with the session policy and
// the client's address and transport). Without RoleArn, a user with
// several grants gets AccessDenied naming the role ARNs to pick from.
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
	opts := issueOptions{Policy: req.Get("Policy"), SourceIP: req.SourceIP, SecureTransport: req.SecureTransport}
	if v, ok := req.Lookup("DurationSeconds"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || !awsspec.ValidDurationSeconds(n) {
			return nil, stsErr(http.StatusBadRequest, "ValidationError", fmt.Sprintf(
				"1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between %d and %d",
				awsspec.MinDurationSeconds, awsspec.MaxDurationSeconds))
		}
		opts.Duration = time.Duration(n) * time.Second
	}
	if roleARN, ok := req.Lookup("RoleArn"); ok {
		if n := utf8.RuneCountInString(roleARN); n < awsspec.MinARNLen || n > awsspec.MaxARNLen {
			return nil, stsErr(http.StatusBadRequest, "ValidationError", fmt.Sprintf(
				"1 validation error detected: Value at 'roleArn' failed to satisfy constraint: Member must have length between %d and %d",
				awsspec.MinARNLen, awsspec.MaxARNLen))
		}
		opts.Roles = []string{roleARN}
	}

	id, err := s.passwordLogin(ctx, p, pa, username, password, req.SourceIP)
	if err != nil {
		return nil, stsRefusal(err)
	}
	se, err := s.startOneShotSession(ctx, id, methodPassword)
	if err != nil {
		return nil, stsRefusal(err)
	}
	out, err := s.issueFromSession(ctx, se, opts)
	if err != nil {
		return nil, stsRefusal(err)
	}
	return &LDAPIdentityResult{Credentials: out[0].Creds, AssumedRoleUser: out[0].AssumedRole, SourceIdentity: out[0].SourceIdentity}, nil
}
