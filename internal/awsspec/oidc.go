package awsspec

import (
	"net/url"
	"strings"
)

// IssuerHostPath is how AWS names an OIDC provider by its issuer URL: the
// URL without its scheme and without a trailing slash (host and escaped
// path). It is the last part of the provider's ARN (OIDCProviderARN) and
// the prefix of its condition keys (<host+path>:aud, :sub, :amr, …). A
// string that does not parse as a URL is returned without a trailing slash.
func IssuerHostPath(issuerURL string) string {
	u, err := url.Parse(issuerURL)
	if err != nil {
		return strings.TrimSuffix(issuerURL, "/")
	}
	return strings.TrimSuffix(u.Host+u.EscapedPath(), "/")
}
