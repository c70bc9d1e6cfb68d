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
	"io"
	"log/slog"
	"net"
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
	// Descriptor is the parsed metadata (crewjam type), used to build AuthnRequests.
	Descriptor *crewjam.EntityDescriptor
}

// ParseIdPMetadata parses IdP metadata (an EntityDescriptor, or an
// EntitiesDescriptor holding one IdP). It refuses DTDs, requires at least one
// signing certificate with a strong key, and requires https SSO endpoints
// (http only on loopback).
func ParseIdPMetadata(doc []byte) (*IdPMetadata, error) {
	root, err := parseTree(doc, maxMetadataXML)
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

// isLoopback reports whether host (no port) names the local machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
		if isLoopback(u.Hostname()) {
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

// metadataCache holds the current IdP metadata, refreshing URL sources.
type metadataCache struct {
	src    MetadataSource
	logger *slog.Logger
	now    func() time.Time

	cur        atomic.Pointer[cachedMetadata]
	refreshing atomic.Bool
	fetchMu    sync.Mutex
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
// when nothing is cached yet, and in the background when the copy is stale.
func (c *metadataCache) get(ctx context.Context) (*IdPMetadata, error) {
	cur := c.cur.Load()
	if cur == nil {
		if err := c.Refresh(ctx); err != nil {
			return nil, err
		}
		return c.cur.Load().md, nil
	}
	if c.src.URL != "" && c.now().Sub(cur.fetched) >= c.src.Refresh && c.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer c.refreshing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), c.src.Timeout)
			defer cancel()
			if err := c.Refresh(ctx); err != nil {
				c.logger.Warn("saml idp metadata refresh failed; keeping the last good copy", "url", c.src.URL, "err", err)
			}
		}()
	}
	return cur.md, nil
}

// Refresh fetches a URL source now. On failure the cached copy stays.
func (c *metadataCache) Refresh(ctx context.Context) error {
	if c.src.URL == "" {
		return nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
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
