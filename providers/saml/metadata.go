package saml

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"github.com/idbroker/idbroker/internal/loopback"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/idbroker/idbroker/providers"
)

// IdPMetadata is what we take from an IdP's SAML metadata.
type IdPMetadata struct {
	// EntityID is the IdP's entity ID (the expected Issuer).
	EntityID string
	// SigningCerts are the certificates trusted for signatures (use="signing" or no use).
	SigningCerts []*x509.Certificate
	// Descriptor is the parsed metadata (crewjam type): crewjam builds
	// AuthnRequests from it and verifies Responses with its certificates.
	Descriptor *crewjam.EntityDescriptor
}

// ParseIdPMetadata parses IdP metadata (an EntityDescriptor, or an
// EntitiesDescriptor holding one IdP). It refuses DTDs, requires at least one
// signing certificate with a strong key, and requires https SSO endpoints
// (http only on loopback).
func ParseIdPMetadata(doc []byte) (*IdPMetadata, error) {
	root, err := parseTree(doc, maxMetadataXML, true)
	if err != nil {
		return nil, fmt.Errorf("idp metadata: %w", err)
	}
	ed := &crewjam.EntityDescriptor{}
	switch root.Tag {
	case "EntityDescriptor":
		if err := xml.Unmarshal(doc, ed); err != nil {
			return nil, fmt.Errorf("idp metadata: %w", err)
		}
	case "EntitiesDescriptor":
		all := &crewjam.EntitiesDescriptor{}
		if err := xml.Unmarshal(doc, all); err != nil {
			return nil, fmt.Errorf("idp metadata: %w", err)
		}
		var found []*crewjam.EntityDescriptor
		for i := range all.EntityDescriptors {
			if len(all.EntityDescriptors[i].IDPSSODescriptors) > 0 {
				found = append(found, &all.EntityDescriptors[i])
			}
		}
		if len(found) != 1 {
			return nil, fmt.Errorf("idp metadata: need exactly one entity with an IDPSSODescriptor, found %d", len(found))
		}
		ed = found[0]
	default:
		return nil, errors.New("idp metadata: root is neither EntityDescriptor nor EntitiesDescriptor")
	}
	if ed.EntityID == "" {
		return nil, errors.New("idp metadata: entityID missing")
	}
	if len(ed.IDPSSODescriptors) == 0 {
		return nil, errors.New("idp metadata: no IDPSSODescriptor")
	}
	md := &IdPMetadata{EntityID: ed.EntityID, Descriptor: ed}
	for _, d := range ed.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, c := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
				if err != nil {
					return nil, errors.New("idp metadata: certificate is not base64")
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("idp metadata: %w", err)
				}
				if err := strongKey(cert); err != nil {
					return nil, err
				}
				md.SigningCerts = append(md.SigningCerts, cert)
			}
		}
		for _, s := range d.SingleSignOnServices {
			if err := checkEndpointURL(s.Location); err != nil {
				return nil, fmt.Errorf("idp metadata: SingleSignOnService: %w", err)
			}
		}
	}
	if len(md.SigningCerts) == 0 {
		return nil, errors.New("idp metadata: no signing certificate")
	}
	return md, nil
}

func strongKey(cert *x509.Certificate) error {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("idp metadata: RSA key of %d bits is too small", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return errors.New("idp metadata: ECDSA key is too small")
		}
	default:
		return errors.New("idp metadata: unsupported key type")
	}
	return nil
}

// checkEndpointURL requires an absolute https URL, or http on loopback.
func checkEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback.Host(u.Hostname()) {
			return nil
		}
	}
	return errors.New("URL must use https (http only on loopback)")
}

// MetadataSource says where IdP metadata comes from: exactly one of URL, File, XML.
type MetadataSource struct {
	URL  string
	File string
	XML  string
	// Refresh is how often a URL is re-fetched (default 1h); the last good copy is kept on failure.
	Refresh time.Duration
	// Timeout bounds one fetch (default 10s).
	Timeout time.Duration
	// HTTPClient fetches URLs (default: a client with Timeout).
	HTTPClient *http.Client
}

func (s MetadataSource) validate() error {
	n := 0
	for _, v := range []string{s.URL, s.File, s.XML} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("exactly one of idp_metadata_url, idp_metadata_file, idp_metadata_xml is required")
	}
	if s.URL != "" {
		if err := checkEndpointURL(s.URL); err != nil {
			return fmt.Errorf("idp_metadata_url: %w", err)
		}
	}
	return nil
}

// metadataRetryMin is the first back-off after a failed metadata fetch; each
// further failure doubles it, up to the refresh interval.
const metadataRetryMin = 10 * time.Second

// metadataCache holds the current IdP metadata, refreshing URL sources.
//
// After a failed fetch no request fetches again before the back-off has
// passed (metadataRetryMin, doubling per consecutive failure, capped at the
// refresh interval): a stale copy keeps being served meanwhile, and with no
// copy at all requests fail fast with the last error. So an IdP that is down
// sees at most one fetch per back-off period, whatever the login rate.
type metadataCache struct {
	src    MetadataSource
	logger *slog.Logger
	now    func() time.Time

	cur        atomic.Pointer[cachedMetadata]
	refreshing atomic.Bool
	fetchMu    sync.Mutex

	stateMu  sync.Mutex
	failures int       // consecutive failed fetches
	retryAt  time.Time // no automatic fetch before this (after a failure)
	lastErr  error     // the last fetch error, returned while nothing is cached
}

type cachedMetadata struct {
	md      *IdPMetadata
	fetched time.Time
}

func newMetadataCache(src MetadataSource, logger *slog.Logger, now func() time.Time) (*metadataCache, error) {
	if err := src.validate(); err != nil {
		return nil, err
	}
	if src.Refresh <= 0 {
		src.Refresh = time.Hour
	}
	if src.Timeout <= 0 {
		src.Timeout = 10 * time.Second
	}
	if src.HTTPClient == nil {
		src.HTTPClient = &http.Client{Timeout: src.Timeout}
	}
	c := &metadataCache{src: src, logger: logger, now: now}
	if src.URL == "" {
		// Static sources are read once, at start.
		doc := []byte(src.XML)
		if src.File != "" {
			b, err := os.ReadFile(src.File)
			if err != nil {
				return nil, fmt.Errorf("idp_metadata_file: %w", err)
			}
			doc = b
		}
		md, err := ParseIdPMetadata(doc)
		if err != nil {
			return nil, err
		}
		c.warnCerts(md)
		c.cur.Store(&cachedMetadata{md: md, fetched: now()})
	}
	return c, nil
}

func (c *metadataCache) warnCerts(md *IdPMetadata) {
	now := c.now()
	for _, cert := range md.SigningCerts {
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			c.logger.Warn("saml idp signing certificate is outside its validity period; signatures will be refused",
				"idp", md.EntityID, "not_before", cert.NotBefore, "not_after", cert.NotAfter)
		}
	}
}

// get returns the current metadata. A URL source is fetched synchronously
// when nothing is cached yet, and in the background when the copy is stale;
// either only once the back-off after a failed fetch has passed.
func (c *metadataCache) get(ctx context.Context) (*IdPMetadata, error) {
	cur := c.cur.Load()
	if cur == nil {
		c.fetchMu.Lock()
		defer c.fetchMu.Unlock()
		// Another request may have fetched, or failed, while this one waited.
		if cur = c.cur.Load(); cur != nil {
			return cur.md, nil
		}
		if err := c.backingOff(); err != nil {
			return nil, err
		}
		if err := c.fetchLocked(ctx); err != nil {
			return nil, err
		}
		return c.cur.Load().md, nil
	}
	if c.src.URL != "" && c.now().Sub(cur.fetched) >= c.src.Refresh && c.backingOff() == nil &&
		c.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer c.refreshing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), c.src.Timeout)
			defer cancel()
			c.fetchMu.Lock()
			defer c.fetchMu.Unlock()
			if c.backingOff() != nil {
				return // a fetch failed while this one was starting
			}
			if err := c.fetchLocked(ctx); err != nil {
				c.logger.Warn("saml idp metadata refresh failed; keeping the last good copy", "url", c.src.URL, "err", err)
			}
		}()
	}
	return cur.md, nil
}

// backingOff returns the last fetch error while the back-off after it runs.
func (c *metadataCache) backingOff() error {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.failures == 0 || !c.now().Before(c.retryAt) {
		return nil
	}
	return fmt.Errorf("%w (not retried before %s)", c.lastErr, c.retryAt.UTC().Format(time.RFC3339))
}

// record notes the outcome of a fetch and sets the next back-off.
func (c *metadataCache) record(err error) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if err == nil {
		c.failures, c.retryAt, c.lastErr = 0, time.Time{}, nil
		return
	}
	if c.failures < math.MaxInt {
		c.failures++
	}
	// metadataRetryMin doubled per failure after the first, up to the
	// refresh interval (doubling stops there, so it never overflows).
	wait := metadataRetryMin
	for i := 1; i < c.failures && wait < c.src.Refresh; i++ {
		wait *= 2
	}
	wait = min(wait, c.src.Refresh)
	c.retryAt = c.now().Add(wait)
	c.lastErr = err
}

// Refresh fetches a URL source now, back-off or not (for an operator or a
// periodic job). On failure the cached copy stays.
func (c *metadataCache) Refresh(ctx context.Context) error {
	if c.src.URL == "" {
		return nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	return c.fetchLocked(ctx)
}

// fetchLocked fetches and parses the URL, records the outcome and, on
// success, stores the copy. The caller holds fetchMu.
//
// The fetch runs under its own timeout only, not the caller's deadline or
// cancellation: a caller's deadline (the STS's verify timeout) can end no
// later than the fetch timeout, and an IdP that hangs must still count as a
// failure and start the back-off, or every request would wait its turn on
// fetchMu for a fetch of its own. A caller whose context ends meanwhile
// waits at most the fetch timeout.
func (c *metadataCache) fetchLocked(ctx context.Context) error {
	err := c.fetch(context.WithoutCancel(ctx))
	c.record(err)
	return err
}

func (c *metadataCache) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.src.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.src.URL, nil)
	if err != nil {
		return fmt.Errorf("idp metadata: %w", err)
	}
	resp, err := c.src.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("idp metadata fetch: %w: %w", providers.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("idp metadata fetch: %w: status %d", providers.ErrUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataXML+1))
	if err != nil {
		return fmt.Errorf("idp metadata fetch: %w: %w", providers.ErrUnavailable, err)
	}
	md, err := ParseIdPMetadata(bytes.TrimSpace(body))
	if err != nil {
		return fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
	}
	if prev := c.cur.Load(); prev != nil && prev.md.EntityID != md.EntityID {
		return fmt.Errorf("idp metadata: %w: entity ID changed", providers.ErrConfiguration)
	}
	c.warnCerts(md)
	c.cur.Store(&cachedMetadata{md: md, fetched: c.now()})
	return nil
}
