package main

import (
	"context"
	"testing"

	"github.com/idbroker/idbroker/internal/cli"
)

// TestChooseWayFromListing: without --browser, --device or a username,
// idbroker login asks the broker's provider listing how each provider
// signs in: the password prompt for a directory or static users, the
// browser for an OIDC provider; an unknown name is refused with the list.
func TestChooseWayFromListing(t *testing.T) {
	idp := newIdP(t)
	oidcBroker := startServer(t, oidcBrokerConfig(idp, idp))
	demo := startServer(t, cliDemoConfig(t))
	tests := []struct {
		name, base, provider string
		want                 way
		wantErr              bool
	}{
		{"static users take a password", demo.URL, "demo", wayPassword, false},
		{"the only provider, not named", demo.URL, "", wayPassword, false},
		{"an OIDC provider goes through the browser", oidcBroker.URL, "corp", wayBrowser, false},
		{"an unknown provider", oidcBroker.URL, "nope", 0, true},
		{"several providers, none named, no terminal", oidcBroker.URL, "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := chooseWay(context.Background(), cli.NewClient(tc.base, "test"), &loginFlags{}, tc.provider, nil)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("chooseWay: %v %v, want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
