package broker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// Measurements: the broker's events reach the Observer from one place,
// observe (called by audit), so that a number on the dashboard is the
// count of an audited event; the HTTP middleware below adds each route's
// latency and carries, in the request's context, what the issuing seam
// needs to know of the request (its surface, its client).

// Observer receives the broker's measurements (internal/metrics implements
// it). Label values are bounded here: providers and roles are passed as
// the broker knows them and the implementation maps any it was not
// configured with to one value; surfaces, results and kinds are the
// constants below.
type Observer interface {
	// Login: a login at provider ended with result (LoginSucceeded, …),
	// took after the request began.
	Login(provider, result string, took time.Duration)
	// UpstreamError: a provider failed the broker (kind "unavailable",
	// "misconfigured" or "recheck").
	UpstreamError(provider, kind string)
	// Issue: credentials issued ("issued") or refused ("refused") on
	// surface (SurfaceAPI, …) for role (an ARN, or "" when none was named).
	Issue(surface, roleARN, result string)
	// LockedOut: a password login refused because its name, account or
	// address is locked.
	LockedOut(provider string)
	// Revoked: a revocation recorded (kind "admin") or a session revoked
	// because its person is gone upstream ("account_gone").
	Revoked(kind string)
	// Route: one HTTP request served by a route (its ServeMux pattern,
	// "" when none matched) took took.
	Route(pattern string, took time.Duration)
}

// Results of Observer.Login.
const (
	LoginSucceeded          = "success"
	LoginInvalidCredentials = "invalid_credentials"
	LoginLocked             = "locked"
	LoginUnavailable        = "unavailable"
	LoginMisconfigured      = "misconfigured"
	LoginRefused            = "refused"
)

// Surfaces that issue, as the limits and the metrics name them.
const (
	SurfaceAPI    = "api"
	SurfacePortal = "portal"
	SurfaceOAuth2 = "oauth2"
	SurfaceSTS    = "sts"
	SurfaceOther  = "other"
)

// requestInfo is what the middleware records of a request for the layers
// below it.
type requestInfo struct {
	path   string
	client string
	start  time.Time
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	if ri == nil {
		return requestInfo{}
	}
	return *ri
}

// surface names the issuing surface a request came by, from its path.
func (ri requestInfo) surface() string {
	switch ri.path {
	case "/api/v1/credentials":
		return SurfaceAPI
	case "/portal/credentials":
		return SurfacePortal
	case "/oauth2/token":
		return SurfaceOAuth2
	case "/":
		return SurfaceSTS
	}
	return SurfaceOther
}

// instrument records the request's info in its context and, with an
// Observer, the latency of its route. It sits inside realClient, so the
// client address is the one lock-outs and limits see.
func (s *Server) instrument(h http.Handler) http.Handler {
	if s.cfg.Observer == nil && s.cfg.Limiter == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &requestInfo{path: r.URL.Path, client: clientIP(r), start: time.Now()}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
		h.ServeHTTP(w, r)
		if s.cfg.Observer != nil {
			// ServeMux sets Pattern on the request it was handed.
			s.cfg.Observer.Route(r.Pattern, time.Since(ri.start))
		}
	})
}

// observe turns an audited event into measurements.
func (s *Server) observe(ctx context.Context, event string, id providers.Identity, attrs []slog.Attr) {
	o := s.cfg.Observer
	if o == nil {
		return
	}
	switch event {
	case "login":
		o.Login(id.Provider, LoginSucceeded, s.since(ctx))
	case "login.refused":
		result := loginResult(attrValue(attrs, "reason"))
		o.Login(id.Provider, result, s.since(ctx))
		switch result {
		case LoginLocked:
			o.LockedOut(id.Provider)
		case LoginUnavailable, LoginMisconfigured:
			o.UpstreamError(id.Provider, result)
		}
	case "session.recheck_failed":
		o.UpstreamError(id.Provider, "recheck")
	case "issue":
		o.Issue(requestInfoFrom(ctx).surface(), attrString(attrs, "role"), "issued")
	case "issue.refused":
		o.Issue(requestInfoFrom(ctx).surface(), attrString(attrs, "role"), "refused")
	case "session.revoked":
		o.Revoked("account_gone")
	case "revocation":
		o.Revoked("admin")
	}
}

// since is how long ago the request began (0 outside a request).
func (s *Server) since(ctx context.Context) time.Duration {
	if ri := requestInfoFrom(ctx); !ri.start.IsZero() {
		return time.Since(ri.start)
	}
	return 0
}

// loginResult classifies a refused login's reason.
func loginResult(reason any) string {
	err, ok := reason.(error)
	switch {
	case !ok:
		return LoginRefused
	case errors.Is(err, errLocked):
		return LoginLocked
	case errors.Is(err, providers.ErrInvalidCredentials):
		return LoginInvalidCredentials
	case errors.Is(err, providers.ErrConfiguration):
		return LoginMisconfigured
	case errors.Is(err, providers.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return LoginUnavailable
	}
	return LoginRefused
}

func attrValue(attrs []slog.Attr, key string) any {
	for _, a := range attrs {
		if a.Key == key {
			return a.Value.Any()
		}
	}
	return nil
}

func attrString(attrs []slog.Attr, key string) string {
	s, _ := attrValue(attrs, key).(string)
	return s
}
