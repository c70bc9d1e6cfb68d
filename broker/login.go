package broker

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/idbroker/idbroker/providers"
)

// passwordLogin authenticates a username and password at a provider for the
// browser form, the JSON API and broker-only STS actions alike. Every
// refusal is audited. The returned error wraps providers.ErrInvalidCredentials
// (one answer for unknown user, wrong or empty password, locked account),
// providers.ErrUnavailable (the provider or the lockout store cannot be
// reached), providers.ErrConfiguration (the provider is misconfigured), or
// none of them (an unexpected error); loginFailed classifies it for the
// answer.
func (s *Server) passwordLogin(ctx context.Context, p Provider, pa providers.PasswordAuthenticator, username, password, clientIP string) (providers.Identity, error) {
	var (
		id  providers.Identity
		err error
	)
	// Brute-force protection (lockout.go) wraps every attempt, the empty
	// ones included: it counts refusals and refuses locked accounts with
	// the wrong-password answer, without calling the provider.
	// A provider that names the account behind the username (LDAP, whose
	// filter may accept uid or mail) is counted per account as well.
	id, err = s.lockout.guardAccount(ctx, p.Name, username, clientIP, func(before func(context.Context, string) error) (providers.Identity, error) {
		if username == "" || password == "" {
			return providers.Identity{}, providers.ErrInvalidCredentials
		}
		if al, ok := pa.(AccountLoginer); ok && before != nil {
			return al.LoginGuarded(ctx, username, password, before)
		}
		return pa.Login(ctx, username, password)
	})
	if err != nil {
		s.audit(ctx, "login.refused", providers.Identity{Provider: p.Name, Username: username}, slog.String("client_ip", clientIP), slog.Any("reason", err))
		return providers.Identity{}, err
	}
	s.audit(ctx, "login", id, slog.String("client_ip", clientIP))
	return id, nil
}

// clientIP is the request's peer address (proxies are not trusted here).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
