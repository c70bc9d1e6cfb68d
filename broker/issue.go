package broker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
)

// Issuing is one path for every surface (the browser's sign-in and role
// chooser, the JSON API, the STS action AssumeRoleWithLDAPIdentity and the
// RFC 8693 token exchange): issue picks the grants a request names from
// the mapping's decision and, for each, vouches for the user to the STS
// with an assertion of the protocol that fits the login (a SAML Response
// for SAML logins, a JWT for the others) and redeems it in process.

// issueOptions is what differs between the surfaces that issue.
type issueOptions struct {
	// Roles are the role names or ARNs asked for; none takes the single
	// grant of the decision (several are classChoiceRequired).
	Roles []string
	// Duration is the session length asked for (0: the default); the
	// mapping's caps and the upstream login's expiry shorten it.
	Duration time.Duration
	// Policy is a session policy (JSON) the STS intersects with the role's.
	Policy string
	// SourceIP and SecureTransport describe the client's request to the
	// STS (aws:SourceIp, aws:SecureTransport).
	SourceIP        string
	SecureTransport bool
	// SessionID names the broker session issuing (session.go): the broker
	// JWT carries it as sid, the SAML Response as the AuthnStatement's
	// SessionIndex, and the STS keeps it in the credentials, so that a
	// revocation of the session reaches them.
	SessionID string
}

// issued is one set of credentials for one grant.
type issued struct {
	Grant mapping.Grant
	// AssumedRole is the STS's AssumedRoleUser (ARN and role id).
	AssumedRole    sts.AssumedRoleUser
	SourceIdentity string
	Creds          sts.Credentials
	Duration       time.Duration
	// DurationNote says why the session is shorter than asked ("" if not).
	DurationNote string
}

// errDurationTooShort means the caps left less than the STS minimum.
var errDurationTooShort = errors.New("the session would be shorter than 15 minutes")

// issue picks the grants opts.Roles names from dec (pickAudited: audited
// and refused the same way for every surface) and issues each, in order.
// Every error is a *refusal (refusal.go) that each surface turns into its
// answer; the first grant that cannot be issued stops the rest.
func (s *Server) issue(ctx context.Context, id providers.Identity, dec mapping.Decision, opts issueOptions) ([]*issued, error) {
	grants, err := s.pickAudited(ctx, id, dec, opts.Roles)
	if err != nil {
		return nil, pickRefusal(dec, err)
	}
	if err := s.mfaGate(ctx, id, grants); err != nil {
		s.auditRefused(ctx, id, dec, err, slog.String("session_id", opts.SessionID))
		return nil, err
	}
	out := make([]*issued, 0, len(grants))
	for _, g := range grants {
		is, err := s.issueGrant(ctx, id, g, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, is)
	}
	return out, nil
}

// pickRefusal classifies pickGrants' errors.
func pickRefusal(dec mapping.Decision, err error) *refusal {
	switch {
	case errors.Is(err, errChoiceRequired):
		return &refusal{class: classChoiceRequired, err: err, roles: grantARNs(dec.Grants)}
	case errors.Is(err, errNotGranted):
		return &refusal{class: classNotGranted, err: err}
	default:
		return &refusal{class: classNoGrant, err: err}
	}
}

// issueGrant negotiates the session's length, signs the assertion for g and
// redeems it at the STS, auditing the STS's answer (issue or
// issue.refused).
func (s *Server) issueGrant(ctx context.Context, id providers.Identity, g mapping.Grant, opts issueOptions) (*issued, error) {
	d, note, err := s.effectiveDuration(id, g, opts.Duration)
	if err != nil {
		return nil, &refusal{class: classSessionTooShort, err: err, role: g.RoleARN}
	}
	via := s.protocol(id)
	r, err := s.redeem(ctx, via, id, g, d, opts)
	if err != nil {
		return nil, err
	}
	attrs := []slog.Attr{slog.String("role", g.RoleARN), slog.String("rule", g.Rule), slog.Int("rule_index", g.RuleIndex)}
	if via == viaSAML {
		attrs = append(attrs, slog.String("via", "saml"))
	}
	if r.err != nil {
		s.audit(ctx, "issue.refused", id, append(attrs, slog.Any("reason", r.err))...)
		ref := &refusal{class: classIssueInternal, err: r.err, role: g.RoleARN}
		if errors.As(r.err, &ref.sts) {
			ref.class = classSTSRefused
		}
		return nil, ref
	}
	s.audit(ctx, "issue", id, append(attrs, slog.String("access_key_id", r.creds.AccessKeyID), slog.Duration("duration", d), slog.String("session_id", opts.SessionID))...)
	return &issued{Grant: g, AssumedRole: r.assumed, SourceIdentity: r.sourceIdentity, Creds: r.creds, Duration: d, DurationNote: note}, nil
}

// effectiveDuration is min(requested or default, rule cap, role maximum,
// upstream expiry), negotiated by the mapping package: the user gets the
// shorter session and a note saying why, rather than an error. A login whose
// upstream session ends in less than the AWS minimum is refused: keys must
// not outlive the login they came from.
func (s *Server) effectiveDuration(id providers.Identity, g mapping.Grant, requested time.Duration) (time.Duration, string, error) {
	now := s.now()
	if !id.Expiry.IsZero() && id.Expiry.Sub(now) < awsspec.MinSessionDuration {
		return 0, "", errDurationTooShort
	}
	d, note := g.EffectiveDuration(requested, id.Expiry, now)
	return d, note, nil
}

// protocol is how the broker vouches for a login: SAML logins with a SAML
// Response of its own IdP (when it has one), every other login with a JWT.
type protocol int

const (
	viaJWT protocol = iota
	viaSAML
)

func (s *Server) protocol(id providers.Identity) protocol {
	if s.cfg.SAMLIdP != nil && s.isSAMLIdentity(id) {
		return viaSAML
	}
	return viaJWT
}

// redeemed is the STS's answer to one assertion: the credentials, or err
// when the STS refused them.
type redeemed struct {
	creds          sts.Credentials
	assumed        sts.AssumedRoleUser
	sourceIdentity string
	err            error
}

// redeem signs the assertion for g (a failure there is the broker's own,
// returned as an error) and presents it to the STS, whose refusal comes
// back in redeemed.err. The assertion names the role (its subject starts
// with the role name, see Subject) and carries the grant's session name,
// tags and source identity; the session length is asked for explicitly.
func (s *Server) redeem(ctx context.Context, via protocol, id providers.Identity, g mapping.Grant, d time.Duration, opts issueOptions) (redeemed, error) {
	roleName := awsspec.RoleNameFromARN(g.RoleARN)
	secs := int32(d / time.Second)
	if via == viaSAML {
		b64, err := s.cfg.SAMLIdP.Sign(SAMLAssertionRequest{
			RoleARN:             g.RoleARN,
			NameID:              Subject(roleName, id.Provider, id.Username),
			SessionName:         g.SessionName,
			SessionTags:         g.SessionTags,
			TransitiveTagKeys:   g.TransitiveTagKeys,
			SourceIdentity:      g.SourceIdentity,
			Duration:            d,
			MFA:                 id.MFA,
			AuthTime:            samlAuthTime(id),
			SessionNotOnOrAfter: id.Expiry,
			SessionIndex:        opts.SessionID,
		})
		if err != nil {
			return redeemed{}, &refusal{class: classIssueInternal, err: err, role: g.RoleARN}
		}
		out, err := s.cfg.STS.AssumeRoleWithSAML(ctx, &sts.AssumeRoleWithSAMLInput{
			RoleArn: g.RoleARN, PrincipalArn: s.cfg.SAMLIdP.ProviderARN(), SAMLAssertion: b64, DurationSeconds: &secs,
			Policy: opts.Policy, SourceIP: opts.SourceIP, SecureTransport: opts.SecureTransport,
		})
		if err != nil {
			return redeemed{err: err}, nil
		}
		return redeemed{creds: out.Credentials, assumed: out.AssumedRoleUser, sourceIdentity: out.SourceIdentity}, nil
	}
	tok, err := s.cfg.Issuer.Sign(TokenRequest{
		RoleName:          roleName,
		Provider:          id.Provider,
		Username:          id.Username,
		MFA:               id.MFA,
		MFATime:           id.MFATime,
		SessionTags:       g.SessionTags,
		TransitiveTagKeys: g.TransitiveTagKeys,
		SourceIdentity:    g.SourceIdentity,
		SessionID:         opts.SessionID,
	})
	if err != nil {
		return redeemed{}, &refusal{class: classIssueInternal, err: err, role: g.RoleARN}
	}
	out, err := s.cfg.STS.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: g.RoleARN, RoleSessionName: g.SessionName, WebIdentityToken: tok, DurationSeconds: &secs,
		Policy: opts.Policy, SourceIP: opts.SourceIP, SecureTransport: opts.SecureTransport,
	})
	if err != nil {
		return redeemed{err: err}, nil
	}
	return redeemed{creds: out.Credentials, assumed: out.AssumedRoleUser, sourceIdentity: out.SourceIdentity}, nil
}

// samlAuthTime is the AuthnInstant of the broker's SAML Response for id:
// the MFA's time when there was MFA (the STS reads it as the MFA time,
// aws:MultiFactorAuthAge), else the upstream's authentication time.
func samlAuthTime(id providers.Identity) time.Time {
	if id.MFA && !id.MFATime.IsZero() {
		return id.MFATime
	}
	return id.AuthTime
}
