package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/health"
	"github.com/idbroker/idbroker/internal/metrics"
	"github.com/idbroker/idbroker/internal/mfa"
	"github.com/idbroker/idbroker/internal/reports"
	"github.com/idbroker/idbroker/internal/revocation"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/sts"
)

// app is a fully wired broker + STS, ready to serve.
type app struct {
	cfg     *fileConfig
	handler http.Handler
	sts     *sts.Service
	mapper  *mapping.Mapper
	broker  *broker.Server
	store   store.Store
	// revocations is the revocation set of store, for the broker's
	// provider ARNs revocationsFor; ownRevocations: this app built it
	// (startRevocations syncs and runs it), else a reload kept it.
	revocations    *revocation.Set
	revocationsFor string
	ownRevocations bool
	// providers are the upstream providers as built (the broker serves them).
	providers []broker.Provider
	// reports records the reports' events (its Dropped and Unwritten
	// counts are for the metrics).
	reports *reports.Recorder
	// health runs the /readyz checks (health.go).
	health *health.Checker
	// What the app releases when it is closed (applife.go); a reload hands
	// the store and the revocation set's run to the next app.
	resources
}

// secrets are the key material an app runs with.
type secrets struct {
	ring   *sts.KeyRing
	broker *broker.Keys
	// store, when set, is an already running state store to reuse (a reload
	// keeps replay caches and lock-outs); nil makes one from the config.
	store store.Store
	// revocations is store's running revocation set, reused with it while
	// the broker's provider ARNs (revocationsFor) stay the same.
	revocations    *revocation.Set
	revocationsFor string
	// metrics lives as long as the process (nil: no measurements, as for
	// config check); assemble feeds it and re-Configures its bounds.
	metrics *metrics.Metrics
}

// loadSecrets reads keys.dir (or generates keys in memory when it is
// empty). A reload passes the running key ring when it follows the same
// keys.dir: it is loaded again in place (keyFollower keeps watching it).
func loadSecrets(cfg *fileConfig, log *slog.Logger, ring *sts.KeyRing) (*secrets, error) {
	if cfg.Keys.Dir == "" {
		log.Warn("keys.dir is empty: generating keys in memory; credentials will not survive a restart (demo only)")
		return generateSecrets()
	}
	var err error
	if ring == nil {
		ring, err = sts.LoadKeyRing(cfg.Keys.Dir)
	} else {
		err = ring.LoadDir(cfg.Keys.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("keys.dir: %w", err)
	}
	bk, err := broker.LoadKeys(cfg.Keys.Dir)
	if err != nil {
		return nil, fmt.Errorf("keys.dir: %w", err)
	}
	return &secrets{ring: ring, broker: bk}, nil
}

func generateSecrets() (*secrets, error) {
	ring, err := sts.GenerateKeyRing()
	if err != nil {
		return nil, err
	}
	bk, err := broker.GenerateKeys()
	if err != nil {
		return nil, err
	}
	return &secrets{ring: ring, broker: bk}, nil
}

// publicURL is server.public_url, or the URL that follows server.listen.
func (c *fileConfig) publicURL() string {
	if c.Server.PublicURL != "" {
		return strings.TrimSuffix(c.Server.PublicURL, "/")
	}
	return publicURLFor(c.Server.Listen, c.Server.TLS.CertFile != "")
}

func (c *fileConfig) roleARN(r roleConfig) string {
	return awsspec.RoleARN(c.Partition, c.AccountID, r.Path, r.Name)
}

// assembleOffline builds the app with throwaway keys, a memory store and no
// logging, for commands that inspect a configuration (config check,
// explain): the configured store is not opened (a file store is the
// running server's; config check looks at it on its own, checkStoreOpens).
func assembleOffline(cfg *fileConfig) (*app, error) {
	sec, err := generateSecrets()
	if err != nil {
		return nil, err
	}
	mem := store.NewMemory(nil)
	sec.store = mem
	a, err := assemble(cfg, sec, slog.New(slog.DiscardHandler))
	if err != nil {
		_ = mem.Close()
		return nil, err
	}
	a.closeStore = func() { _ = mem.Close() }
	return a, nil
}

// assemble builds the STS, the mapper, the providers and the broker from a
// validated configuration. It makes no network call: upstream discovery is
// lazy, so a provider that is down does not stop the broker.
//
// It reports every problem of every stage at once (the roles and policies
// the STS refuses, the mapping rules, the providers), joined.
func assemble(cfg *fileConfig, sec *secrets, log *slog.Logger) (*app, error) {
	var errs []error

	// Mapping rules, compiled against the roles. They depend on nothing
	// else, so they are checked whatever goes wrong below.
	mapper, err := compileMapping(cfg)
	if err != nil {
		errs = append(errs, err)
	}

	pub := cfg.publicURL()
	// fatal stops at a problem the later stages cannot do without; it
	// reports it with those found so far.
	fatal := func(err error) (*app, error) {
		return nil, errors.Join(append(errs, err)...)
	}
	issuer, err := broker.NewIssuer(pub, sec.broker.Signing, nil)
	if err != nil {
		return fatal(fmt.Errorf("the broker's OIDC issuer: %w", err))
	}

	// The shared state store (kept across a reload when unchanged).
	st := sec.store
	ownStore := st == nil
	if ownStore {
		opened, err := store.Open(cfg.Store.store())
		if err != nil {
			// Reported; a memory store lets the other stages be checked.
			errs = append(errs, err)
			opened = store.NewMemory(nil)
		} else if cfg.Store.Replicas > 1 && !opened.Shared() {
			errs = append(errs, fmt.Errorf("store.replicas: %d replicas need a store they can share (type redis)", cfg.Store.Replicas))
		}
		st = opened
		if sec.metrics != nil {
			st = store.Observed(st, sec.metrics.StoreError)
		}
	}

	// The STS: roles (each trusting the broker unless told otherwise), named
	// policies, and the OIDC providers it trusts, the broker first.
	brokerTrust := broker.Trust{Partition: cfg.Partition, Account: cfg.AccountID, PublicURL: pub}
	roles, policies, roleErrs := stsRolesAndPolicies(cfg, brokerTrust)
	errs = append(errs, roleErrs...)
	// The revocation set of the store, asked on every signed request.
	sessionProviders := brokerProviderARNs(cfg, issuer.URL(), brokerTrust)
	revs, ownRevs := sec.revocations, false
	if ownStore || revs == nil || sec.revocationsFor != strings.Join(sessionProviders, " ") {
		revs, ownRevs = newRevocationSet(st, sessionProviders, log), true
	}
	stsCfg := sts.Config{
		AccountID: cfg.AccountID, Partition: cfg.Partition, Region: cfg.Region,
		PublicURL: pub, Keys: sec.ring, Logger: log,
		Roles: roles, ManagedPolicies: policies, Revocations: revs,
	}
	// Issuance limits, one limiter for the broker's surfaces and the
	// STS's direct actions; measurements when the process keeps them.
	limiter, err := newLimiter(cfg, st, sec.metrics)
	if err != nil {
		errs = append(errs, err)
	}
	if limiter != nil {
		stsCfg.Limiter = broker.STSLimiter(limiter, brokerTrust)
	}
	if sec.metrics != nil {
		stsCfg.Observer = sec.metrics
	}
	// AssumeRole's SerialNumber and TokenCode: the TOTP enrolments of the
	// broker's people (broker/stsmfa.go), given the broker once built.
	stsMFA := broker.NewSTSMFA(broker.STSMFAConfig{Partition: cfg.Partition, Account: cfg.AccountID, SessionProviders: sessionProviders})
	stsCfg.MFA = stsMFA
	closeStore := func() {
		if ownStore {
			_ = st.Close()
		}
	}
	// The broker's own OIDC provider and SAML IdP follow server.public_url:
	// when that is unusable (reported by parseConfig), they are left out and
	// the other stages are still checked.
	brokerVerifier, err := newWebIdentityVerifier(issuer.URL(), []string{broker.Audience}, issuer.PublicKeys())
	if err != nil {
		errs = append(errs, fmt.Errorf("server.public_url: the broker's OIDC issuer: %w", err))
	} else {
		stsCfg.OIDCProviders = append(stsCfg.OIDCProviders, sts.OIDCProvider{Issuer: issuer.URL(), Verifier: brokerVerifier, KeyPath: "server.public_url"})
	}
	for i, p := range cfg.STS.OIDCProviders {
		v, err := newSTSWebIdentityVerifier(p, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("sts.oidc_providers[%d]: %w", i, err))
			continue
		}
		stsCfg.OIDCProviders = append(stsCfg.OIDCProviders, sts.OIDCProvider{Issuer: p.Issuer, Verifier: v, KeyPath: fmt.Sprintf("sts.oidc_providers[%d]", i)})
	}
	// SAML providers for AssumeRoleWithSAML; redeemed assertions are
	// remembered in the shared store. (The broker's own "idbroker" SAML IdP
	// is appended to stsCfg.SAMLProviders by its wiring.)
	stsCfg.SAMLReplayCache = st
	for i, p := range cfg.STS.SAMLProviders {
		v, err := newSAMLAssertionVerifier(p, pub, cfg.Region, st, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("sts.saml_providers[%d]: %w", i, err))
			continue
		}
		stsCfg.SAMLProviders = append(stsCfg.SAMLProviders, sts.SAMLProvider{Name: p.Name, Verifier: v, KeyPath: fmt.Sprintf("sts.saml_providers[%d]", i)})
	}
	// The broker as a SAML IdP towards its own STS: SAML logins are
	// redeemed with AssumeRoleWithSAML at saml-provider/idbroker.
	samlIdP, err := broker.NewSAMLIdP(broker.SAMLIdPConfig{
		PublicURL: pub, ProviderARN: brokerTrust.SAMLProviderARN(),
		Key: sec.broker.SAMLKey, Certificate: sec.broker.SAMLCert,
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("server.public_url: the broker's SAML IdP: %w", err))
	} else {
		brokerSAML, err := newBrokerSAMLVerifier(samlIdP, st, log)
		if err != nil {
			closeStore()
			return fatal(err)
		}
		stsCfg.SAMLProviders = append(stsCfg.SAMLProviders, sts.SAMLProvider{Name: broker.SAMLIdPProviderName, Verifier: brokerSAML, KeyPath: "server.public_url"})
	}
	// sts.New lists every problem itself, each naming its key path.
	svc, err := sts.New(stsCfg)
	if err != nil {
		errs = append(errs, err)
	}

	// Upstream providers.
	var bps []broker.Provider
	for i, p := range cfg.Providers {
		bp := broker.Provider{Name: p.Name, Type: p.Type, DisplayName: p.DisplayName, MFA: p.MFA}
		if kind, ok := providerKinds()[p.Type]; ok {
			bp.Impl, err = kind.build(buildEnv{cfg: cfg, log: log, publicURL: pub, store: st, keys: sec.broker}, p)
		} else {
			err = fmt.Errorf("type %q is not supported", p.Type)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("providers[%d]: %w", i, err))
			continue
		}
		bps = append(bps, bp)
	}
	if len(errs) > 0 {
		closeProviders(bps)
		closeStore()
		return nil, errors.Join(errs...)
	}

	extra := map[string]http.Handler{}
	switch {
	case sec.metrics != nil && cfg.Server.MetricsOnPublic:
		extra["GET /metrics"] = sec.metrics.Handler()
	case cfg.Server.MetricsOnPublic:
		log.Warn("server.metrics_on_public: the process was started without metrics; it takes effect on restart")
	}
	if cfg.Server.Pprof {
		extra["GET /debug/pprof/"] = http.HandlerFunc(pprof.Index)
		extra["GET /debug/pprof/profile"] = http.HandlerFunc(pprof.Profile)
		extra["GET /debug/pprof/trace"] = http.HandlerFunc(pprof.Trace)
		extra["GET /debug/pprof/symbol"] = http.HandlerFunc(pprof.Symbol)
		extra["GET /debug/pprof/cmdline"] = http.HandlerFunc(pprof.Cmdline)
	}

	// The broker's own second factor: TOTP enrolments in the shared store,
	// sealed with a key derived from the cookie key (broker.MFAKey).
	mfaIssuer := cfg.Portal.Title
	if mfaIssuer == "" {
		mfaIssuer = "idbroker"
	}
	mfaSvc, err := mfa.New(st, broker.MFAKey(sec.broker.Cookie), mfa.Options{Issuer: mfaIssuer, Logger: log})
	if err != nil {
		closeProviders(bps)
		closeStore()
		return nil, err
	}
	// The reports' recorder (credential report, access advisor), its MFA
	// columns read from the enrolments.
	rec, err := newReports(cfg, st, mfaSvc, log)
	if err != nil {
		closeProviders(bps)
		closeStore()
		return nil, err
	}

	checker := newHealth(cfg, st, revs, bps, log)
	b, err := broker.New(broker.Config{
		PublicURL: pub, Providers: bps, Mapper: mapper, STS: svc,
		Issuer: issuer, SAMLIdP: samlIdP, CookieKey: sec.broker.Cookie, Logger: log,
		Store: st, Sessions: cfg.Sessions.broker(), TrustedProxies: cfg.trustedProxies(),
		Ready: readiness(st, revs), Health: checker,
		Extra: extra,
		// The administrators' APIs: explain, revocations, sessions.
		Explainer: mapper, AdminRoleARNs: cfg.adminRoleARNs(),
		Revocations: revs, RoleARNs: cfg.roleARNs(),

		LoginProtection: cfg.LoginProtection.broker(),
		MFA:             mfaSvc,

		// The browser pages' branding, and the region their commands name.
		Portal: cfg.Portal.broker(), Region: cfg.Region,

		Limiter: brokerLimiter(limiter), Observer: brokerObserver(sec.metrics),
		Reports: rec,
	})
	if err != nil {
		_ = rec.Close()
		closeProviders(bps)
		closeStore()
		return nil, err
	}
	if err := registerLDAPIdentity(cfg, svc, b); err != nil {
		_ = rec.Close()
		closeProviders(bps)
		closeStore()
		return nil, err
	}
	observeApp(sec.metrics, cfg, st, svc, rec)
	stsMFA.Attach(b)
	a := &app{cfg: cfg, handler: b, sts: svc, mapper: mapper, broker: b, store: st, providers: bps, health: checker, reports: rec,
		revocations: revs, ownRevocations: ownRevs, revocationsFor: strings.Join(sessionProviders, " ")}
	a.closeReports = func() { _ = rec.Close() } // writes what is queued, before the store closes
	a.closeProviders = func() { closeProviders(bps) }
	if ownStore {
		a.closeStore = func() { _ = st.Close() }
	}
	return a, nil
}

// compileMapping compiles the mapping rules against the roles and providers
// of the configuration.
func compileMapping(cfg *fileConfig) (*mapping.Mapper, error) {
	env := mapping.Env{AccountID: cfg.AccountID, Partition: cfg.Partition, Roles: map[string]mapping.RoleInfo{}}
	for _, r := range cfg.Roles {
		max := time.Duration(r.MaxSessionDuration)
		if max == 0 {
			max = time.Hour
		}
		env.Roles[r.Name] = mapping.RoleInfo{ARN: cfg.roleARN(r), MaxDuration: max, Description: r.Description, RequireMFA: r.RequireMFA}
	}
	for _, p := range cfg.Providers {
		env.Providers = append(env.Providers, p.Name)
	}
	return mapping.Compile(cfg.Mapping, env)
}
