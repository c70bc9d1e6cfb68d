// Package cli is the client side of idbroker's terminal commands (login,
// credential-process, logout, status, env, credentials-server): the
// broker's sessions API and its OAuth 2.0 server for the CLI (loopback
// PKCE and device code, through golang.org/x/oauth2), the per-user cache
// of sessions and keys, and the AWS config file's profiles.
//
// It imports nothing of idbroker's but internal/loopback: it speaks to the
// broker over HTTP only, as any other client would.
package cli
