package broker

import (
	"context"
	"fmt"
	"time"
)

// The limits of the device grant against guessing and flooding, counted in
// the store (so on every replica) per browser session and per client
// address (IPv6 reduced to its /64, as the lock-out does):
//   - wrong user codes: deviceWrongLimit per deviceLimitWindow, then no
//     code is looked up, not even the right one;
//   - look-ups, right or wrong: counted before the look-up (each request
//     gets its own count), so that requests sent at once cannot all pass
//     the wrong-code check before any is counted;
//   - device requests: deviceRequestLimit per address (each is a record).
//
// A right code refunds nothing: anyone may make codes to look up.

const (
	deviceLimitWindow    = 10 * time.Minute
	deviceWrongLimit     = 5
	deviceLookupsSession = 10
	deviceLookupsAddress = 30
	deviceRequestLimit   = 30
)

// deviceBucket is one counted subject of the code look-ups.
type deviceBucket struct {
	kind    string // "session" | "ip"
	id      string // the session id, the address
	lookups int64  // the most look-ups in the window
}

func deviceLookupLimits(sessionID, clientIP string) []deviceBucket {
	return []deviceBucket{
		{kind: "session", id: sessionID, lookups: deviceLookupsSession},
		{kind: "ip", id: addressKey(clientIP), lookups: deviceLookupsAddress},
	}
}

func (b deviceBucket) key(counter string) string {
	return oauth2GrantPrefix + "device-" + counter + ":" + b.kind + ":" + b.id
}

// deviceLookupAdmitted decides whether a look-up of typed may go on: why is
// "" when it may, else the reason it is refused (too many wrong codes, too
// many look-ups). A value that cannot be a code is not counted. An error
// means the store cannot say (fail closed).
func (s *Server) deviceLookupAdmitted(ctx context.Context, bs []deviceBucket, typed string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	defer cancel()
	for _, b := range bs {
		n, err := s.cfg.Store.Get(ctx, b.key("wrong"))
		if err != nil {
			return "", fmt.Errorf("%w: %w", errSessionStore, err)
		}
		if n >= deviceWrongLimit {
			return "too many wrong codes (" + b.kind + ")", nil
		}
	}
	if _, ok := normalizeUserCode(typed); !ok {
		return "", nil
	}
	for _, b := range bs {
		n, err := s.cfg.Store.Incr(ctx, b.key("lookups"), deviceLimitWindow)
		if err != nil {
			return "", fmt.Errorf("%w: %w", errSessionStore, err)
		}
		if n > b.lookups {
			return "too many look-ups (" + b.kind + ")", nil
		}
	}
	return "", nil
}

// deviceWrong counts a wrong code in every bucket.
func (s *Server) deviceWrong(ctx context.Context, bs []deviceBucket) error {
	ctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	defer cancel()
	for _, b := range bs {
		if _, err := s.cfg.Store.Incr(ctx, b.key("wrong"), deviceLimitWindow); err != nil {
			return fmt.Errorf("%w: %w", errSessionStore, err)
		}
	}
	return nil
}

// countDeviceRequest counts a device request of the client address and
// returns how many it made in the window.
func (s *Server) countDeviceRequest(ctx context.Context, clientIP string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	defer cancel()
	n, err := s.cfg.Store.Incr(ctx, oauth2GrantPrefix+"device-requests:"+addressKey(clientIP), deviceLimitWindow)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errSessionStore, err)
	}
	return n, nil
}
