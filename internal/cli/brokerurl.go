package cli

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/idbroker/idbroker/internal/loopback"
)

// NormalizeBrokerURL checks a broker URL given on the command line and
// returns its canonical form, the key of its sessions in the cache:
// scheme and host in lower case, no trailing slash. It must be https, or
// plain http to a loopback host only (a password and a session token
// must never cross a network in clear). No user info, query or fragment.
func NormalizeBrokerURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("the broker URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("the broker URL %q is not a URL: %w", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "https" && scheme != "http":
		return "", fmt.Errorf("the broker URL %q must start with https:// (or http:// on this machine)", raw)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("the broker URL %q has no host", raw)
	case u.User != nil:
		return "", fmt.Errorf("the broker URL must not carry a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("the broker URL %q must not have a query or fragment", raw)
	case scheme == "http" && !loopback.Host(u.Hostname()):
		return "", fmt.Errorf("the broker URL %q is plain http to another machine: use https (http is only for a broker on this machine)", raw)
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	return scheme + "://" + strings.ToLower(u.Host) + path, nil
}
