package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/revocation"
	"github.com/idbroker/idbroker/internal/store"
)

// The revocation set every replica keeps in step with the shared store
// (internal/revocation): the STS asks it on every signed request, the
// broker records revocations in it. One set per store: a reload that keeps
// the store keeps the set (and its Run); one that opens another store
// builds a new set, synced and run before it serves.

// firstSyncTimeout bounds the start-up Sync; until a Sync succeeds, every
// credential counts as revoked (fail closed) and /readyz says not ready.
const firstSyncTimeout = 5 * time.Second

// revocationStaleAfter: a set that has not heard from the store for this
// long makes /readyz answer not ready (it still refuses what it knows).
const revocationStaleAfter = 30 * time.Second

// brokerProviderARNs are the provider ARNs of the broker's own OIDC issuer
// and SAML IdP at the STS: their credentials carry broker session ids.
func brokerProviderARNs(cfg *fileConfig, issuerURL string, bt broker.Trust) []string {
	return []string{
		awsspec.OIDCProviderARN(cfg.Partition, cfg.AccountID, awsspec.IssuerHostPath(issuerURL)),
		bt.SAMLProviderARN(),
	}
}

// newRevocationSet is the set of st; a session id counts only for
// credentials of sessionProviders.
func newRevocationSet(st store.Store, sessionProviders []string, log *slog.Logger) *revocation.Set {
	return revocation.New(st, revocation.Options{Logger: log, SessionProviders: sessionProviders})
}

// startRevocations syncs a set this app built (not one a reload kept) and
// keeps it in step with the store in the background until ctx ends; the
// app's close stops it (the next app's, when a reload keeps the set). A
// first Sync that fails is logged: the server serves, refusing every
// credential, until Run's resync succeeds.
func (a *app) startRevocations(ctx context.Context, log *slog.Logger) {
	if !a.ownRevocations {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, firstSyncTimeout)
	err := a.revocations.Sync(sctx)
	cancel()
	if err != nil {
		log.Error("revocation set: the first sync failed; every credential is refused until the store answers", "err", err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.revocations.Run(rctx)
	}()
	a.stopRevocations = func() {
		stop()
		<-done
	}
}

// readiness is /readyz's check: the store answers and the revocation set
// has synced recently.
func readiness(st store.Store, set *revocation.Set) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return err
		}
		last := set.LastSync()
		switch {
		case last.IsZero():
			return errors.New("the revocation set has not synced with the store yet")
		case time.Since(last) > revocationStaleAfter:
			return fmt.Errorf("the revocation set last synced with the store at %s", last.UTC().Format(time.RFC3339))
		}
		return nil
	}
}
