package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/reports"
)

// The administrators' report APIs (internal/reports): the credential
// report and the access advisor, behind the administrators' gate
// (admin.go). Mounted with Config.Reports.

// Actions a session must be allowed, on resource "*", to read the reports.
const (
	// GetCredentialReportAction: GET /api/v1/admin/reports/credentials.
	GetCredentialReportAction = "idbroker:GetCredentialReport"
	// GetAccessReportAction: GET /api/v1/admin/reports/access.
	GetAccessReportAction = "idbroker:GetAccessReport"
)

// reportTimeout bounds the making of one report (a walk of each person's
// sessions, the store's aggregates).
const reportTimeout = 30 * time.Second

// reportFlushTimeout bounds the wait for this replica's queued events.
const reportFlushTimeout = 2 * time.Second

// reportRoutes mounts the report APIs when the broker keeps reports.
func (s *Server) reportRoutes(mux *http.ServeMux) {
	if s.cfg.Reports == nil {
		return
	}
	mux.HandleFunc("GET /api/v1/admin/reports/credentials", s.serveCredentialReport)
	mux.HandleFunc("GET /api/v1/admin/reports/access", s.serveAccessReport)
}

// wantsCSV reports whether the Accept header asks for text/csv (any of
// its media ranges, whatever its q).
func wantsCSV(r *http.Request) bool {
	for _, h := range r.Header.Values("Accept") {
		for _, part := range strings.Split(h, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == "text/csv" {
				return true
			}
		}
	}
	return false
}

// reportQuery checks the query of a report request: only the parameters
// allowed, each at most once, as text. It answers a refusal itself (ok
// false).
func reportQuery(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]string, bool) {
	bad := func(err error) (map[string]string, bool) {
		writeAPIRefusal(w, &refusal{class: classBadAdminRequest, err: err, detail: err.Error()})
		return nil, false
	}
	out := map[string]string{}
	for k, v := range r.URL.Query() {
		switch {
		case !slices.Contains(allowed, k):
			if len(allowed) == 0 {
				return bad(fmt.Errorf("unknown query parameter %q: this report takes none", truncate(k, 64)))
			}
			return bad(fmt.Errorf("unknown query parameter %q: give %s", truncate(k, 64), strings.Join(allowed, ", ")))
		case len(v) != 1:
			return bad(fmt.Errorf("give %s at most once", k))
		}
		if err := checkText(k, v[0]); err != nil {
			return bad(err)
		}
		out[k] = v[0]
	}
	return out, true
}

// flushReports waits (briefly) for this replica's queued events, so a
// report includes what was just recorded here.
func (s *Server) flushReports(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, reportFlushTimeout)
	defer cancel()
	if err := s.cfg.Reports.Flush(ctx); err != nil {
		s.log.WarnContext(ctx, "reports: queued events not flushed before a report", slog.Any("err", err))
	}
}

// serveCredentialReport is GET /api/v1/admin/reports/credentials: JSON
// (reports.CredentialReport), or CSV with Accept: text/csv.
func (s *Server) serveCredentialReport(w http.ResponseWriter, r *http.Request) {
	body, ok := readAdminRequest(w, r, false)
	if !ok {
		return
	}
	caller, ok := s.adminCaller(w, r, body, GetCredentialReportAction, "reports.refused")
	if !ok {
		return
	}
	if _, ok := reportQuery(w, r); !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), reportTimeout)
	defer cancel()
	s.flushReports(ctx)
	rep, err := s.cfg.Reports.CredentialReport(ctx, reportSources{s})
	if err != nil {
		writeAPIRefusal(w, s.sessionRefused(ctx, fmt.Errorf("%w: %w", errSessionStore, err)))
		return
	}
	format := "json"
	if wantsCSV(r) {
		format = "csv"
	}
	s.auditAPI(ctx, "reports.credentials", r, caller, slog.String("format", format), slog.Int("people", len(rep.People)))
	if format == "json" {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		writeAPIRefusal(w, s.sessionRefused(ctx, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8; header=present")
	h.Set("Content-Disposition", `attachment; filename="credential-report.csv"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// serveAccessReport is GET /api/v1/admin/reports/access[?role=R]: the
// access advisor's report (reports.AccessReport) of one configured role
// (name or ARN) or of all.
func (s *Server) serveAccessReport(w http.ResponseWriter, r *http.Request) {
	body, ok := readAdminRequest(w, r, false)
	if !ok {
		return
	}
	caller, ok := s.adminCaller(w, r, body, GetAccessReportAction, "reports.refused")
	if !ok {
		return
	}
	q, ok := reportQuery(w, r, "role")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), reportTimeout)
	defer cancel()
	s.flushReports(ctx)
	rep, err := s.cfg.Reports.AccessReport(ctx, q["role"])
	switch {
	case errors.Is(err, reports.ErrUnknownRole):
		writeAPIRefusal(w, &refusal{class: classBadAdminRequest, err: err,
			detail: fmt.Sprintf("role %q is not a configured role (give its name or ARN)", truncate(q["role"], 128))})
		return
	case err != nil:
		writeAPIRefusal(w, s.sessionRefused(ctx, fmt.Errorf("%w: %w", errSessionStore, err)))
		return
	}
	s.auditAPI(ctx, "reports.access", r, caller, slog.String("role", q["role"]), slog.Int("roles", len(rep.Roles)))
	writeJSON(w, http.StatusOK, rep)
}
