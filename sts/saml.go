package sts

import (
	"context"
	"crypto/sha1" // #nosec G505 -- AWS defines NameQualifier as Base64(SHA1(...)); not a security use.
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

const (
	actionSAML      = "AssumeRoleWithSAML"
	maxSAMLLen      = 100000
	samlAttrPrefix  = "https://aws.amazon.com/SAML/Attributes/"
	samlAttrRole    = samlAttrPrefix + "Role"
	samlAttrSession = samlAttrPrefix + "RoleSessionName"
	samlAttrDur     = samlAttrPrefix + "SessionDuration"
	samlAttrTag     = samlAttrPrefix + "PrincipalTag:"
	samlAttrTrans   = samlAttrPrefix + "TransitiveTagKeys"
	samlAttrSrcID   = samlAttrPrefix + "SourceIdentity"
	nameIDFormat20  = "urn:oasis:names:tc:SAML:2.0:nameid-format:"
	nameIDUnspec    = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	// samlReplayGrace keeps a claimed assertion ID past its NotOnOrAfter to
	// cover the verifier's clock skew.
	samlReplayGrace = 5 * time.Minute
)

// Sentinel error classes that SAMLAssertionVerifier implementations wrap so
// that the STS can choose the AWS error code and message (STS-SPEC §3, §5):
// awsspec's failure classes of a SAML Response, under the STS's names.
// Anything else becomes InvalidIdentityToken "Invalid SAML response".
var (
	ErrSAMLSignature        = awsspec.ErrSAMLSignature
	ErrSAMLExpired          = awsspec.ErrSAMLExpired
	ErrSAMLIssuedTooLongAgo = awsspec.ErrSAMLIssuedTooLongAgo
	ErrSAMLNotYetValid      = awsspec.ErrSAMLNotYetValid
	ErrSAMLAudience         = awsspec.ErrSAMLAudience
	ErrSAMLRecipient        = awsspec.ErrSAMLRecipient
	ErrSAMLIssuer           = awsspec.ErrSAMLIssuer
	ErrSAMLReplay           = awsspec.ErrSAMLReplay
	ErrSAMLStatus           = awsspec.ErrSAMLStatus
	ErrSAMLTooLarge         = awsspec.ErrSAMLTooLarge
	ErrSAMLUnavailable      = awsspec.ErrSAMLUnavailable
	ErrSAMLMalformed        = awsspec.ErrSAMLMalformed
)

// SAMLAssertionVerifier verifies SAMLAssertion values (base64 SAML
// Responses) for one registered SAML provider: signature with the
// provider's keys, exactly one assertion, issuer = the provider's entity ID,
// audience, bearer SubjectConfirmation with Recipient and NotOnOrAfter,
// validity window, IssueInstant age. Errors wrap the ErrSAML* classes.
type SAMLAssertionVerifier interface {
	// VerifySAMLAssertion verifies the base64 SAMLAssertion. roleARN is the
	// requested role, for verifiers that scope their own replay checks.
	VerifySAMLAssertion(ctx context.Context, samlAssertion, roleARN string) (*SAMLAssertion, error)
}

// SAMLAssertion is a verified SAML assertion: what the STS needs of it.
type SAMLAssertion struct {
	// ID is the assertion ID (replay key).
	ID string
	// Issuer is the assertion Issuer (the IdP entity ID).
	Issuer string
	// NameID is the Subject NameID value and NameIDFormat its Format ("" = unspecified).
	NameID, NameIDFormat string
	// Recipient is SubjectConfirmationData/@Recipient (returned as Audience, saml:aud).
	Recipient string
	// Audiences are the AudienceRestriction values.
	Audiences []string
	// IssueInstant of the assertion.
	IssueInstant time.Time
	// NotOnOrAfter is the earliest of Conditions and SubjectConfirmationData NotOnOrAfter.
	NotOnOrAfter time.Time
	// SessionNotOnOrAfter of the AuthnStatement (zero when absent); caps the session.
	SessionNotOnOrAfter time.Time
	// Attributes in document order.
	Attributes []SAMLAttribute
}

// SAMLAttribute is one Attribute of the AttributeStatement.
type SAMLAttribute struct {
	Name, FriendlyName string
	Values             []string
}

// SAMLProvider is an IAM SAML provider (arn:<p>:iam::<acct>:saml-provider/<Name>).
// The broker registers its own as Name "idbroker".
type SAMLProvider struct {
	// Name is 1-128 characters of [\w._-].
	Name string
	// Verifier verifies this provider's assertions.
	Verifier SAMLAssertionVerifier
}

// ReplayCache remembers redeemed keys (internal/store.Store implements it).
// Claim must be an atomic check-and-set: for a key exactly one caller gets
// fresh == true until `until` has passed.
type ReplayCache interface {
	Claim(ctx context.Context, key string, until time.Time) (fresh bool, err error)
}

type samlProvider struct {
	name, arn string
	verifier  SAMLAssertionVerifier
}

// AssumeRoleWithSAMLInput are the AssumeRoleWithSAML request parameters.
// An empty string means "absent" (the Query API binding tells an empty
// parameter, as in "Policy=", from an absent one: the empty one fails its
// minimum length).
type AssumeRoleWithSAMLInput struct {
	RoleArn, PrincipalArn, SAMLAssertion string
	Policy                               string
	PolicyArns                           []string
	// DurationSeconds is nil for the default (3600).
	DurationSeconds *int32
	// SourceIP is the client address for aws:SourceIp (optional).
	SourceIP string
	// SecureTransport says whether the client's request came over TLS
	// (aws:SecureTransport; see SecureTransport). aws:RequestedRegion of
	// this unsigned action is the STS's configured region.
	SecureTransport bool

	// empty: parameters sent empty on the wire (set by the Query API binding).
	empty emptyParams
}

// samlParams are the AssumeRoleWithSAML string parameters with a length
// constraint, in wire spelling.
var samlParams = []string{"RoleArn", "PrincipalArn", "SAMLAssertion", "Policy"}

// AssumeRoleWithSAMLOutput is the AssumeRoleWithSAMLResult.
type AssumeRoleWithSAMLOutput struct {
	Credentials      Credentials     `xml:"Credentials" json:"Credentials"`
	AssumedRoleUser  AssumedRoleUser `xml:"AssumedRoleUser" json:"AssumedRoleUser"`
	PackedPolicySize *int            `xml:"PackedPolicySize,omitempty" json:"PackedPolicySize,omitempty"`
	Subject          string          `xml:"Subject" json:"Subject"`
	SubjectType      string          `xml:"SubjectType" json:"SubjectType"`
	Issuer           string          `xml:"Issuer" json:"Issuer"`
	Audience         string          `xml:"Audience" json:"Audience"`
	NameQualifier    string          `xml:"NameQualifier" json:"NameQualifier"`
	SourceIdentity   string          `xml:"SourceIdentity,omitempty" json:"SourceIdentity,omitempty"`
}

// SAMLProviderARN is the IAM ARN of a registered SAML provider ("" if none).
func (s *Service) SAMLProviderARN(name string) string {
	for _, p := range s.samlProviders {
		if p.name == name {
			return p.arn
		}
	}
	return ""
}

// NameQualifier computes AWS's NameQualifier (STS-SPEC §5.6):
// Base64(SHA1(issuer + account + "/" + providerName)).
func NameQualifier(issuer, account, providerName string) string {
	sum := sha1.Sum([]byte(issuer + account + "/" + providerName)) // #nosec G401 -- AWS-defined identifier, not a MAC.
	return base64.StdEncoding.EncodeToString(sum[:])
}

// SubjectType is the NameID Format as AWS reports it: the SAML 2.0
// nameid-format prefix stripped, any other URI unchanged.
func SubjectType(format string) string {
	if format == "" {
		format = nameIDUnspec
	}
	return strings.TrimPrefix(format, nameIDFormat20)
}

func (s *Service) handleAssumeRoleWithSAML(ctx context.Context, req *Request) (any, error) {
	var v validation
	in := &AssumeRoleWithSAMLInput{
		RoleArn:         req.Get("RoleArn"),
		PrincipalArn:    req.Get("PrincipalArn"),
		SAMLAssertion:   req.Get("SAMLAssertion"),
		Policy:          req.Get("Policy"),
		SourceIP:        req.SourceIP,
		SecureTransport: req.SecureTransport,
		empty:           emptyParamsOf(req, samlParams...),
	}
	if raw, ok := req.Lookup("DurationSeconds"); ok {
		in.DurationSeconds = parseDuration(raw, &v)
	}
	arns, err := policyArnsParam(req)
	if err != nil {
		return nil, err
	}
	in.PolicyArns = arns
	if err := v.err(); err != nil {
		return nil, err
	}
	return s.AssumeRoleWithSAML(ctx, in)
}

func policyArnsParam(req *Request) ([]string, error) {
	arns, err := req.StructList("PolicyArns", "arn")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range arns {
		out = append(out, m["arn"])
	}
	return out, nil
}

func validateSAMLInput(in *AssumeRoleWithSAMLInput) error {
	var v validation
	e := in.empty
	v.checkParam("roleArn", in.RoleArn, e.present("RoleArn", in.RoleArn), true, false, 20, 2048, arnCharsPattern, patternARN)
	v.checkParam("principalArn", in.PrincipalArn, e.present("PrincipalArn", in.PrincipalArn), true, false, 20, 2048, arnCharsPattern, patternARN)
	v.checkParam("sAMLAssertion", in.SAMLAssertion, e.present("SAMLAssertion", in.SAMLAssertion), true, true, 4, maxSAMLLen, nil, "")
	v.checkParam("policy", in.Policy, e.present("Policy", in.Policy), false, false, 1, maxPolicyLen, policyCharsPattern, patternPolicy)
	v.checkDuration(in.DurationSeconds)
	v.checkPolicyArns(in.PolicyArns)
	return v.err()
}

// samlAttrs are the AWS attributes of an assertion (STS-SPEC §5.2).
type samlAttrs struct {
	roles          []string
	sessionName    string
	hasSessionName bool
	duration       *int
	tags           map[string]string
	transitive     []string
	sourceIdentity string
	byName         map[string][]string
}

// AssumeRoleWithSAML exchanges a SAML Response from a registered SAML
// provider for temporary credentials of a role that the assertion's Role
// attribute names (paired with PrincipalArn) and whose trust policy allows
// it. It is what the Query API action calls; errors are *Error. Every issue
// and refusal is audited; the assertion itself never reaches a log.
func (s *Service) AssumeRoleWithSAML(ctx context.Context, in *AssumeRoleWithSAMLInput) (*AssumeRoleWithSAMLOutput, error) {
	ev := AuditEvent{Action: actionSAML, RoleARN: in.RoleArn, Principal: in.PrincipalArn, SourceIP: in.SourceIP}
	if err := validateSAMLInput(in); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	if err := s.checkSessionPolicies(in.Policy, in.PolicyArns); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	prov := s.samlByARN[in.PrincipalArn]
	if prov == nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Specified provider doesn't exist"), "no SAML provider with this ARN")
	}
	vctx, cancel := context.WithTimeout(ctx, s.verifyTimeout)
	a, err := prov.verifier.VerifySAMLAssertion(vctx, in.SAMLAssertion, in.RoleArn)
	cancel()
	if err != nil {
		return nil, s.deny(ctx, ev, mapSAMLError(err), "verify: "+truncate(err.Error(), 300))
	}
	if a == nil || a.ID == "" || a.Issuer == "" {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid SAML response"), "verifier returned no assertion, ID or issuer")
	}
	ev.Principal = prov.arn + "|" + a.NameID
	denied := errAccessDenied("Not authorized to perform sts:AssumeRoleWithSAML")
	if a.NameID == "" {
		return nil, s.deny(ctx, ev, denied, "assertion has no NameID")
	}
	attrs, err := readSAMLAttrs(a.Attributes)
	if err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	if !attrs.hasSessionName {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("RoleSessionName is required in AuthnResponse"), "")
	}
	ev.SessionName = attrs.sessionName
	if !samlRolePaired(attrs.roles, in.RoleArn, in.PrincipalArn) {
		return nil, s.deny(ctx, ev, denied, "no Role attribute value pairs RoleArn with PrincipalArn")
	}
	r := s.roles[in.RoleArn]
	if r == nil {
		return nil, s.deny(ctx, ev, denied, "no such role")
	}

	now := s.now().UTC()
	nq := NameQualifier(a.Issuer, s.account, prov.name)
	subType := SubjectType(a.NameIDFormat)
	pctx := policy.NewContext()
	pctx.Set("saml:aud", a.Recipient)
	pctx.Set("saml:iss", a.Issuer)
	pctx.Set("saml:sub", a.NameID)
	pctx.Set("saml:sub_type", subType)
	pctx.Set("saml:namequalifier", nq)
	pctx.Set("saml:doc", s.account+"/"+prov.name)
	for key, vals := range samlContextAttrs(attrs.byName) {
		pctx.Set(key, vals...)
	}
	pctx.Set("aws:FederatedProvider", prov.arn)
	pctx.Set("sts:RoleSessionName", attrs.sessionName)
	setTimeKeys(pctx, now)
	if in.SourceIP != "" {
		pctx.Set("aws:SourceIp", in.SourceIP)
	}
	s.setTransportKeys(pctx, in.SecureTransport, "")
	hasTags := len(attrs.tags) > 0 || len(attrs.transitive) > 0
	setRequestTagKeys(pctx, attrs.tags, attrs.transitive)
	if attrs.sourceIdentity != "" {
		pctx.Set("sts:SourceIdentity", attrs.sourceIdentity)
	}
	principal := map[string][]string{policy.PrincipalFederated: {prov.arn}}
	actions := []string{"sts:AssumeRoleWithSAML"}
	if hasTags {
		actions = append(actions, "sts:TagSession")
	}
	if attrs.sourceIdentity != "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	for _, action := range actions {
		res := r.trust.Evaluate(&policy.Request{Action: action, Resource: r.arn, Principal: principal, Context: pctx})
		if res.Decision != policy.Allow {
			return nil, s.deny(ctx, ev, denied, "trust policy: "+action+": "+res.Decision.String())
		}
	}

	duration := time.Duration(defaultDuration) * time.Second
	if in.DurationSeconds != nil {
		duration = time.Duration(*in.DurationSeconds) * time.Second
		if duration > r.maxDuration {
			return nil, s.deny(ctx, ev, errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."), "")
		}
	}
	if attrs.duration != nil {
		// The SessionDuration attribute can only shorten the session.
		duration = min(duration, time.Duration(*attrs.duration)*time.Second)
	}
	if !a.SessionNotOnOrAfter.IsZero() {
		left := a.SessionNotOnOrAfter.Sub(now).Truncate(time.Second)
		if left <= 0 {
			return nil, s.deny(ctx, ev, apiError(http.StatusBadRequest, "ExpiredTokenException", "Response has expired"), "SessionNotOnOrAfter has passed")
		}
		duration = min(duration, left)
	}
	packed, err := checkPackedSize(in.Policy, in.PolicyArns, attrs.tags)
	if err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}

	// Replay: one redemption per (provider, assertion, role), claimed only
	// once everything else holds (STS-SPEC §5.4, THREATS SAML-39).
	if s.replay == nil {
		return nil, s.deny(ctx, ev, errInternal(), "no replay cache configured")
	}
	until := a.NotOnOrAfter
	if until.IsZero() || until.Before(now) {
		until = now
	}
	// The claim runs inside mint, after the token is sealed, so that a
	// session too large to seal does not use the assertion up either.
	var claimReason string
	claim := func() error {
		fresh, err := s.replay.Claim(ctx, "sts-saml\x00"+prov.arn+"\x00"+a.ID+"\x00"+in.RoleArn, until.Add(samlReplayGrace))
		if err != nil {
			s.log.ErrorContext(ctx, "sts: replay cache", "err", err)
			claimReason = "replay cache: " + truncate(err.Error(), 200)
			return apiError(http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unable to handle request.")
		}
		if !fresh {
			claimReason = "assertion already redeemed for this role"
			return errInvalidIdentityToken("Invalid SAML response")
		}
		return nil
	}

	creds, user, err := s.mint(mintParams{
		role: r, sessionName: attrs.sessionName, sourceIdentity: attrs.sourceIdentity,
		policy: in.Policy, policyARNs: in.PolicyArns, tags: attrs.tags, transitive: attrs.transitive,
		duration: duration, provider: prov.arn, now: now,
		federated:   map[string][]string{"saml:namequalifier": {nq}, "saml:sub": {a.NameID}, "saml:sub_type": {subType}},
		beforeIssue: claim,
	})
	if claimReason != "" {
		return nil, s.deny(ctx, ev, err, claimReason)
	}
	if err != nil {
		return nil, s.mintFailed(ctx, ev, err)
	}
	ev.Outcome = "issued"
	ev.AccessKeyID = creds.AccessKeyID
	ev.Expiration = creds.Expiration
	s.emit(ctx, ev)
	out := &AssumeRoleWithSAMLOutput{
		Credentials: creds, AssumedRoleUser: user,
		Subject: a.NameID, SubjectType: subType, Issuer: a.Issuer, Audience: a.Recipient,
		NameQualifier: nq, SourceIdentity: attrs.sourceIdentity,
	}
	if in.Policy != "" || len(in.PolicyArns) > 0 || hasTags {
		out.PackedPolicySize = &packed
	}
	return out, nil
}

// mapSAMLError turns a verifier error into the AWS error.
func mapSAMLError(err error) *Error {
	switch {
	case errors.Is(err, ErrSAMLSignature):
		return errInvalidIdentityToken("Response signature invalid")
	case errors.Is(err, ErrSAMLIssuedTooLongAgo):
		return apiError(http.StatusBadRequest, "ExpiredTokenException", "Token must be redeemed within 5 minutes of issuance")
	case errors.Is(err, ErrSAMLExpired):
		return apiError(http.StatusBadRequest, "ExpiredTokenException", "Response has expired")
	case errors.Is(err, ErrSAMLAudience):
		return errInvalidIdentityToken("Response does not contain the required audience")
	case errors.Is(err, ErrSAMLIssuer):
		return errInvalidIdentityToken("Issuer not present in specified provider")
	case errors.Is(err, ErrSAMLRecipient):
		return errInvalidIdentityToken("Response does not contain a valid Recipient")
	case errors.Is(err, ErrSAMLNotYetValid):
		return errInvalidIdentityToken("Response is not yet valid")
	case errors.Is(err, ErrSAMLStatus):
		return apiError(http.StatusForbidden, "IDPRejectedClaim", "The identity provider did not report a successful authentication")
	case errors.Is(err, ErrSAMLTooLarge):
		return errValidation("1 validation error detected: Value at 'sAMLAssertion' failed to satisfy constraint: Member must have length less than or equal to 100000")
	case errors.Is(err, ErrSAMLUnavailable):
		return apiError(http.StatusBadRequest, "IDPCommunicationError", "The identity provider's metadata could not be loaded; retry later")
	default:
		return errInvalidIdentityToken("Invalid SAML response")
	}
}

// readSAMLAttrs extracts and validates the AWS attributes (STS-SPEC §5.2).
// AWS attribute names are exact; an AWS attribute given twice is refused.
func readSAMLAttrs(list []SAMLAttribute) (*samlAttrs, error) {
	out := &samlAttrs{byName: map[string][]string{}}
	seen := map[string]bool{}
	lowerTags := map[string]bool{}
	for _, at := range list {
		if strings.HasPrefix(at.Name, samlAttrPrefix) {
			if seen[at.Name] {
				return nil, errInvalidIdentityToken("Invalid SAML response: attribute " + at.Name + " is given more than once")
			}
			seen[at.Name] = true
		}
		out.byName[at.Name] = append(out.byName[at.Name], at.Values...)
		if at.FriendlyName != "" && at.FriendlyName != at.Name {
			out.byName[at.FriendlyName] = append(out.byName[at.FriendlyName], at.Values...)
		}
		switch {
		case at.Name == samlAttrRole:
			out.roles = append(out.roles, at.Values...)
		case at.Name == samlAttrSession:
			if len(at.Values) != 1 || !validSessionName(at.Values[0]) {
				return nil, errInvalidIdentityToken("RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")
			}
			out.sessionName, out.hasSessionName = at.Values[0], true
		case at.Name == samlAttrDur:
			if len(at.Values) != 1 || !integerPattern.MatchString(at.Values[0]) {
				return nil, errValidation("SessionDuration in AuthnResponse must be an integer between 900 and 43200")
			}
			n, err := strconv.Atoi(at.Values[0])
			if err != nil || n < minDuration || n > maxDuration {
				return nil, errValidation("SessionDuration in AuthnResponse must be an integer between 900 and 43200")
			}
			out.duration = &n
		case strings.HasPrefix(at.Name, samlAttrTag):
			key := strings.TrimPrefix(at.Name, samlAttrTag)
			if len(at.Values) != 1 {
				return nil, errInvalidIdentityToken("PrincipalTag attribute " + key + " must have exactly one value")
			}
			if err := checkTag(key, at.Values[0]); err != nil {
				return nil, errInvalidIdentityToken("Invalid session tag in AuthnResponse: " + err.Error())
			}
			if lowerTags[strings.ToLower(key)] {
				return nil, errInvalidIdentityToken("Duplicate session tag key " + key + " in AuthnResponse (keys are case-insensitive)")
			}
			lowerTags[strings.ToLower(key)] = true
			if out.tags == nil {
				out.tags = map[string]string{}
			}
			out.tags[key] = at.Values[0]
		case at.Name == samlAttrTrans:
			out.transitive = append(out.transitive, at.Values...)
		case at.Name == samlAttrSrcID:
			if len(at.Values) != 1 || checkSourceIdentity(at.Values[0]) != nil {
				return nil, errInvalidIdentityToken("Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin with \"aws:\"")
			}
			out.sourceIdentity = at.Values[0]
		}
	}
	if len(out.tags) > maxTags {
		return nil, errInvalidIdentityToken("The number of session tags in AuthnResponse exceeds 50")
	}
	if len(out.transitive) > maxTags {
		return nil, errInvalidIdentityToken("The number of transitive tag keys in AuthnResponse exceeds 50")
	}
	for _, k := range out.transitive {
		if !lowerTags[strings.ToLower(k)] {
			return nil, errInvalidIdentityToken("Transitive tag key " + k + " is not a session tag in AuthnResponse")
		}
	}
	return out, nil
}

func validSessionName(s string) bool {
	n := utf8.RuneCountInString(s)
	return n >= 2 && n <= 64 && sessionNamePattern.MatchString(s)
}

// samlRolePaired reports whether some Role value is the pair (roleARN,
// providerARN) in either order. Matching is exact: no trimming, no case folding.
func samlRolePaired(values []string, roleARN, providerARN string) bool {
	for _, v := range values {
		a, b, ok := strings.Cut(v, ",")
		if !ok || strings.Contains(b, ",") {
			continue
		}
		if (a == roleARN && b == providerARN) || (a == providerARN && b == roleARN) {
			return true
		}
	}
	return false
}

// samlKeyByAttr maps attribute names (OIDs, claim URIs) to the saml: context
// keys AWS fills from them (STS-SPEC §5.5). Only one claim per key is mapped.
var samlKeyByAttr = map[string]string{
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.1":                                        "saml:edupersonaffiliation",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.2":                                        "saml:edupersonnickname",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.3":                                        "saml:edupersonorgdn",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.4":                                        "saml:edupersonorgunitdn",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.5":                                        "saml:edupersonprimaryaffiliation",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.6":                                        "saml:edupersonprincipalname",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.7":                                        "saml:edupersonentitlement",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.8":                                        "saml:edupersonprimaryorgunitdn",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.9":                                        "saml:edupersonscopedaffiliation",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.10":                                       "saml:edupersontargetedid",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.11":                                       "saml:edupersonassurance",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.2":                                        "saml:eduorghomepageuri",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.3":                                        "saml:eduorgidentityauthnpolicyuri",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.4":                                        "saml:eduorglegalname",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.5":                                        "saml:eduorgsuperioruri",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.6":                                        "saml:eduorgwhitepagesuri",
	"urn:oid:2.5.4.3":                                                         "saml:cn",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":              "saml:name",
	"http://schemas.xmlsoap.org/claims/CommonName":                            "saml:commonName",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname":         "saml:givenName",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname":           "saml:surname",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress":      "saml:mail",
	"http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid": "saml:uid",
	"urn:oid:2.5.4.4":                                                         "saml:surname",
	"urn:oid:2.5.4.42":                                                        "saml:givenName",
	"urn:oid:2.5.4.45":                                                        "saml:x500UniqueIdentifier",
	"urn:oid:0.9.2342.19200300.100.1.1":                                       "saml:uid",
	"urn:oid:0.9.2342.19200300.100.1.3":                                       "saml:mail",
	"urn:oid:0.9.2342.19200300.100.1.45":                                      "saml:organizationStatus",
}

// samlContextAttrs returns the saml: context keys filled from attributes.
func samlContextAttrs(byName map[string][]string) map[string][]string {
	out := map[string][]string{}
	for name, key := range samlKeyByAttr {
		if vals, ok := byName[name]; ok && len(vals) > 0 {
			if _, dup := out[key]; !dup {
				out[key] = vals
			}
		}
	}
	return out
}

// setTimeKeys fills aws:CurrentTime and aws:EpochTime.
func setTimeKeys(pctx *policy.Context, now time.Time) {
	pctx.Set("aws:CurrentTime", now.UTC().Format(time.RFC3339))
	pctx.Set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
}

// setRequestTagKeys fills aws:RequestTag/*, aws:TagKeys and sts:TransitiveTagKeys.
func setRequestTagKeys(pctx *policy.Context, tags map[string]string, transitive []string) {
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		pctx.Set("aws:RequestTag/"+k, v)
		keys = append(keys, k)
	}
	if len(keys) > 0 {
		pctx.Set("aws:TagKeys", keys...)
	}
	if len(transitive) > 0 {
		pctx.Set("sts:TransitiveTagKeys", transitive...)
	}
}

func (s *Service) compileSAMLProvider(pc SAMLProvider) (*samlProvider, error) {
	if !samlProviderNamePattern.MatchString(pc.Name) {
		return nil, fmt.Errorf("Name %q: must be 1-128 characters of [\\w._-]", pc.Name)
	}
	if pc.Verifier == nil {
		return nil, fmt.Errorf("Name %q: Verifier: required", pc.Name)
	}
	return &samlProvider{
		name: pc.Name, verifier: pc.Verifier,
		arn: fmt.Sprintf("arn:%s:iam::%s:saml-provider/%s", s.partition, s.account, pc.Name),
	}, nil
}
