package broker

import (
	"context"
	"errors"
	"time"
)

// The portal's one-time choice: each rendering of the portal's form carries
// a fresh choice, a random id sealed with the session's id, which the
// issuing POST claims in the store before it issues. A choice is thus used
// once, from any browser: a form posted again (a copied form, a page
// restored from the browser's cache) is answered with the portal again,
// without credentials.

const (
	choicePurpose = "idb_choice/v1"
	// choiceTTL bounds how long a rendered portal may be submitted.
	choiceTTL = 10 * time.Minute
)

// roleChoice is the sealed value of the form's choice field.
type roleChoice struct {
	Session string `json:"s"`
	ID      string `json:"c"`
}

// Notices of a portal shown again instead of credentials.
const (
	noticeChoiceUsed    = "That form was used already. Choose below to get new credentials."
	noticeChoiceExpired = "That page had expired. Choose below to get credentials."
	noticeShownOnce     = "Those credentials were shown once and are not shown again. Get new ones below: no password is needed while you are signed in."
	noticeNoneChosen    = "Tick at least one role, or use a role's own “Get credentials” button."
)

// newChoice seals a fresh choice for the session sid.
func (s *Server) newChoice(sid string) (string, error) {
	cid, err := randomB64(16)
	if err != nil {
		return "", err
	}
	return s.sealer.seal(choicePurpose, roleChoice{Session: sid, ID: cid}, choiceTTL)
}

// openChoice opens a posted choice of the session sid; false for one that
// is expired, forged or of another session.
func (s *Server) openChoice(sid, sealed string) (roleChoice, bool) {
	var c roleChoice
	if err := s.sealer.open(choicePurpose, sealed, &c); err != nil || c.Session != sid {
		return roleChoice{}, false
	}
	return c, true
}

// claimChoice claims a choice id in the store: true the first time, on any
// replica; an error when the store cannot say (errSessionStore).
func (s *Server) claimChoice(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
	defer cancel()
	fresh, err := s.cfg.Store.Claim(ctx, "role-choice:"+id, s.now().Add(choiceTTL+time.Minute))
	if err != nil {
		return false, errors.Join(errSessionStore, err)
	}
	return fresh, nil
}
