package broker

import (
	"net/http"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// issuedView is one set of credentials on the browser's credentials page.
type issuedView struct {
	RoleARN, AssumedRoleARN                    string
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 string
	Duration                                   time.Duration
	DurationNote                               string
	Profile                                    string
}

// renderCredentials shows the credentials issued to username, once: the
// page answers a POST whose choice is used up (chooser.go). Secrets go in
// the response body only (never cached), never in a URL or a cookie.
func (s *Server) renderCredentials(w http.ResponseWriter, r *http.Request, username string, out []*issued) {
	views := make([]issuedView, 0, len(out))
	for _, is := range out {
		views = append(views, issuedView{
			RoleARN: is.Grant.RoleARN, AssumedRoleARN: is.AssumedRole.Arn,
			AccessKeyID: is.Creds.AccessKeyID, SecretAccessKey: is.Creds.SecretAccessKey, SessionToken: is.Creds.SessionToken,
			Expiration: is.Creds.Expiration.UTC().Format(time.RFC3339), Duration: is.Duration, DurationNote: is.DurationNote,
			Profile: awsspec.RoleNameFromARN(is.Grant.RoleARN),
		})
	}
	s.render(w, http.StatusOK, "credentials.html", map[string]any{"Title": "Your credentials", "Username": username, "Issued": views,
		"PublicURL": s.cfg.PublicURL, "CSRF": s.csrf(w, r)})
}
