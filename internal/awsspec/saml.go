package awsspec

import "strings"

// The attributes of an assertion that AWS reads when a SAML login assumes a
// role (STS-SPEC §5.2).
const (
	SAMLAttributePrefix = "https://aws.amazon.com/SAML/Attributes/"
	// SAMLAttrRole pairs a role ARN with a SAML provider ARN,
	// "<role-arn>,<provider-arn>" in either order; one value per role.
	SAMLAttrRole = SAMLAttributePrefix + "Role"
	// SAMLAttrRoleSessionName is the session name (required).
	SAMLAttrRoleSessionName = SAMLAttributePrefix + "RoleSessionName"
	// SAMLAttrSessionDuration asks for a session length in seconds.
	SAMLAttrSessionDuration = SAMLAttributePrefix + "SessionDuration"
	// SAMLAttrPrincipalTag is the prefix of a session tag: PrincipalTag:<key>.
	SAMLAttrPrincipalTag = SAMLAttributePrefix + "PrincipalTag:"
	// SAMLAttrTransitiveTagKeys lists the tag keys that pass to chained sessions.
	SAMLAttrTransitiveTagKeys = SAMLAttributePrefix + "TransitiveTagKeys"
	// SAMLAttrSourceIdentity sets the session's source identity.
	SAMLAttrSourceIdentity = SAMLAttributePrefix + "SourceIdentity"
)

// AWS's own SAML service-provider endpoints, which an IdP's AWS app
// addresses its Responses to.
const (
	// SAMLRecipient is AWS's sign-in endpoint: the Recipient and
	// Destination of a Response made for AWS.
	SAMLRecipient = "https://signin.aws.amazon.com/saml"
	// SAMLAudience is AWS's service-provider entity ID.
	SAMLAudience = "urn:amazon:webservices"
)

// SAMLEndpoints are the Recipient (and Destination) values and the Audience
// values that an STS reached at publicURL in region accepts on a Response:
// AWS's own, so that an IdP app configured for AWS works unchanged, and this
// STS's (<publicURL>/saml as endpoint, <publicURL> as entity ID).
func SAMLEndpoints(publicURL, region string) (recipients, audiences []string) {
	pub := strings.TrimSuffix(publicURL, "/")
	recipients = []string{SAMLRecipient, pub + "/saml"}
	if region != "" && region != "us-east-1" {
		recipients = append(recipients, "https://"+region+".signin.aws.amazon.com/saml")
	}
	audiences = []string{SAMLAudience, SAMLRecipient, pub + "/saml", pub}
	return recipients, audiences
}
