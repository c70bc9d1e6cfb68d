package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
)

// Which of a decision's grants a request gets: the one grant, the roles it
// names, or a refusal.

// pickGrants selects the grants a request names. Each wanted entry is a role
// name or ARN. With nothing wanted, a single-grant decision is taken as is.
func pickGrants(dec mapping.Decision, wanted []string) ([]mapping.Grant, error) {
	if len(dec.Grants) == 0 || dec.Outcome == "deny" {
		return nil, errNoGrant
	}
	if len(wanted) == 0 {
		if dec.Outcome == "choose" || len(dec.Grants) > 1 {
			return nil, errChoiceRequired
		}
		return dec.Grants[:1], nil
	}
	var out []mapping.Grant
	seen := map[string]bool{}
	for _, w := range wanted {
		g, ok := findGrant(dec.Grants, w)
		if !ok {
			return nil, fmt.Errorf("%w: %s", errNotGranted, w)
		}
		if !seen[g.RoleARN] {
			seen[g.RoleARN] = true
			out = append(out, g)
		}
	}
	return out, nil
}

// findGrant finds the grant of want, a role ARN or (not starting "arn:") a
// role name.
func findGrant(grants []mapping.Grant, want string) (mapping.Grant, bool) {
	for _, g := range grants {
		if g.RoleARN == want || (!strings.HasPrefix(want, "arn:") && awsspec.RoleNameFromARN(g.RoleARN) == want) {
			return g, true
		}
	}
	return mapping.Grant{}, false
}

var (
	errNoGrant        = errors.New("no role is granted to this user")
	errChoiceRequired = errors.New("several roles are granted: choose one")
	errNotGranted     = errors.New("role not granted to this user")
)

// pickAudited is pickGrants with its audit. issue calls it for every
// surface, so the same outcome is audited the same way whatever the
// protocol, and each surface only answers the refusal (refusal.go).
//
//   - No role granted, or a role asked for that is not granted: the
//     request is refused, audited as issue.refused with the reason, the
//     decision's trace (outcome, reason, dropped grants) and, when the
//     decision offered roles, their ARNs ("offered").
//   - Several roles granted and none named (errChoiceRequired): not a
//     refusal. Nothing was asked for that the rules deny; the caller is
//     told to choose (the API's 409, the token exchange's invalid_request,
//     the LDAP action's AccessDenied listing the roles, the browser's
//     chooser) and the retry is audited on its own. Like a grant that goes
//     on, it records only the grants the rules dropped (grant.dropped).
//   - Otherwise the grants are returned and the dropped ones audited as
//     grant.dropped.
func (s *Server) pickAudited(ctx context.Context, id providers.Identity, dec mapping.Decision, wanted []string) ([]mapping.Grant, error) {
	grants, err := pickGrants(dec, wanted)
	if err != nil && !errors.Is(err, errChoiceRequired) {
		var attrs []slog.Attr
		if len(dec.Grants) > 0 {
			attrs = append(attrs, slog.Any("offered", grantARNs(dec.Grants)))
		}
		s.auditRefused(ctx, id, dec, err, attrs...)
		return nil, err
	}
	s.auditDropped(ctx, id, dec)
	return grants, err
}

// grantARNs lists the grants' role ARNs, in order.
func grantARNs(grants []mapping.Grant) []string {
	out := make([]string, 0, len(grants))
	for _, g := range grants {
		out = append(out, g.RoleARN)
	}
	return out
}
