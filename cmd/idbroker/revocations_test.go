package main

import (
	"context"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/internal/store"
)

// TestRevocationSetLifecycle: the app builds the revocation set of the
// store it opens, for the broker's own provider ARNs (as the STS names
// them); /readyz fails until the set has synced; a reload that keeps the
// store keeps the set (and its Run), one whose public URL moves the
// broker's provider ARNs builds a new one.
func TestRevocationSetLifecycle(t *testing.T) {
	cfg, err := parseConfig(configs.Demo, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := generateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	a, err := assemble(cfg, sec, nil2discard())
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if !a.ownRevocations || a.revocations == nil {
		t.Fatal("the app did not build its store's revocation set")
	}
	issuer := cfg.publicURL()
	if want := a.sts.OIDCProviderARN(issuer) + " " + a.sts.SAMLProviderARN(broker.SAMLIdPProviderName); a.revocationsFor != want {
		t.Errorf("session providers %q, want %q (the STS's names)", a.revocationsFor, want)
	}
	ready := readiness(a.store, a.revocations)
	if err := ready(context.Background()); err == nil || !strings.Contains(err.Error(), "not synced") {
		t.Errorf("ready before the first sync: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.startRevocations(ctx, nil2discard())
	if err := ready(context.Background()); err != nil {
		t.Errorf("ready after the first sync: %v", err)
	}

	// A reload on the same store keeps the set.
	next := *sec
	next.store, next.revocations, next.revocationsFor = a.store, a.revocations, a.revocationsFor
	b, err := assemble(cfg, &next, nil2discard())
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if b.revocations != a.revocations || b.ownRevocations {
		t.Error("a reload keeping the store built another revocation set")
	}
	// One whose public URL moves builds a new one (on the same store).
	moved := *cfg
	moved.Server.PublicURL = "https://idbroker.example.org"
	c, err := assemble(&moved, &next, nil2discard())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if c.revocations == a.revocations || !c.ownRevocations || c.store != store.Store(a.store) {
		t.Error("a reload moving the broker's provider ARNs kept the revocation set")
	}
}
