package broker

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The pages' stylesheet, script and the configured logo are served by the
// broker itself (no CDN) at URLs that name their content's hash, so that
// they can be cached for a year and a new build is fetched at once.

//go:embed assets
var assetFS embed.FS

// asset is one file served under /assets/.
type asset struct {
	data        []byte
	contentType string
	// csp, when set, is the response's own content security policy (an
	// SVG logo opened directly must not run anything).
	csp string
}

// assetSet is every asset by its hashed name, and the URLs the pages use.
type assetSet struct {
	byName map[string]asset
	// urls maps an embedded file's name (portal.css) and "logo" to its
	// hashed URL path.
	urls map[string]string
}

// newAssetSet hashes the embedded assets and the logo.
func newAssetSet(logo *Logo) (*assetSet, error) {
	set := &assetSet{byName: map[string]asset{}, urls: map[string]string{}}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(assetFS, "assets/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("assets: %w", err)
		}
		ext := path.Ext(e.Name())
		set.add(e.Name(), strings.TrimSuffix(e.Name(), ext), ext, asset{data: data, contentType: mime.TypeByExtension(ext)})
	}
	if logo != nil {
		ext := map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/svg+xml": ".svg"}[logo.ContentType]
		set.add("logo", "logo", ext, asset{data: logo.Data, contentType: logo.ContentType,
			csp: "default-src 'none'; style-src 'unsafe-inline'; sandbox"})
	}
	return set, nil
}

func (set *assetSet) add(key, stem, ext string, a asset) {
	sum := sha256.Sum256(a.data)
	if a.contentType == "" {
		a.contentType = "application/octet-stream"
	}
	name := stem + "." + hex.EncodeToString(sum[:6]) + ext
	set.byName[name] = a
	set.urls[key] = "/assets/" + name
}

// serveAsset is GET /assets/{name}: a hashed name never changes content,
// so it is cached for a year; anything else is 404.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets.byName[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	if a.csp != "" {
		h.Set("Content-Security-Policy", a.csp)
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(a.data)
}
