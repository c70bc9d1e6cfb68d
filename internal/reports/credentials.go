package reports

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

// PersonSources are the broker's parts of a credential report row, read
// when the report is made.
type PersonSources interface {
	// ActiveSessions counts the person's live broker sessions.
	ActiveSessions(ctx context.Context, provider, username string) (int, error)
	// LockedUntil is when the lock-out lets the person try again (zero:
	// not locked).
	LockedUntil(ctx context.Context, provider, username string) (time.Time, error)
}

// CredentialReport is the credential report: one row per person seen
// within the retention.
type CredentialReport struct {
	GeneratedAt   time.Time `json:"generated_at"`
	RetentionDays int       `json:"retention_days"`
	// Truncated: the store held more people than one report lists.
	Truncated bool        `json:"truncated,omitempty"`
	People    []PersonRow `json:"people"`
}

// PersonRow is one person's row. Times are RFC 3339 UTC; absent ones are
// left out of the JSON (empty in the CSV). MFAEnrolled is null when the
// broker has no MFA enrolments to ask.
type PersonRow struct {
	Provider          string           `json:"provider"`
	User              string           `json:"user"`
	FirstSeen         *time.Time       `json:"first_seen,omitempty"`
	LastSignIn        *time.Time       `json:"last_sign_in,omitempty"`
	SignIns           int64            `json:"sign_ins"`
	LastIssuance      *time.Time       `json:"last_issuance,omitempty"`
	Issuances         int64            `json:"issuances"`
	IssuancesPerRole  map[string]int64 `json:"issuances_per_role"`
	MFAEnrolled       *bool            `json:"mfa_enrolled"`
	MFALastUsed       *time.Time       `json:"mfa_last_used,omitempty"`
	MFAFailures       int64            `json:"mfa_failures"`
	RecoveryCodesUsed int64            `json:"recovery_codes_used"`
	ActiveSessions    int              `json:"active_sessions"`
	LockedUntil       *time.Time       `json:"locked_until,omitempty"`
	LockOuts          int64            `json:"lock_outs"`
	LastRevoked       *time.Time       `json:"last_revoked,omitempty"`
}

// CredentialReportColumns is the CSV header, in order.
var CredentialReportColumns = []string{
	"provider", "user", "first_seen", "last_sign_in", "sign_ins", "last_issuance", "issuances",
	"issuances_per_role", "mfa_enrolled", "mfa_last_used", "mfa_failures", "recovery_codes_used",
	"active_sessions", "locked_until", "lock_outs", "last_revoked",
}

func msTime(v store.AggregateValue, ok bool) *time.Time {
	if !ok || v.N <= 0 {
		return nil
	}
	t := time.UnixMilli(v.N).UTC().Truncate(time.Second)
	return &t
}

// CredentialReport makes the credential report: the people of the store's
// aggregates (what this replica has queued is flushed first by the
// caller), with src's sessions and locks and the MFA columns of
// Options.MFA. A source that fails fails the report (an audit must not
// show a guess).
func (r *Recorder) CredentialReport(ctx context.Context, src PersonSources) (*CredentialReport, error) {
	recs, err := r.st.ListAggregates(ctx, setPerson)
	rep := &CredentialReport{
		GeneratedAt:   r.now().UTC().Truncate(time.Second),
		RetentionDays: int(r.opts.Retention / (24 * time.Hour)),
		People:        []PersonRow{},
	}
	switch {
	case errors.Is(err, store.ErrTruncated):
		rep.Truncated = true
	case err != nil:
		return nil, fmt.Errorf("reports: %w", err)
	}
	for _, rec := range recs {
		row, err := r.personRow(ctx, rec, src)
		if err != nil {
			return nil, err
		}
		rep.People = append(rep.People, row)
	}
	sort.Slice(rep.People, func(i, j int) bool {
		a, b := rep.People[i], rep.People[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		return a.User < b.User
	})
	return rep, nil
}

func (r *Recorder) personRow(ctx context.Context, rec store.AggregateRecord, src PersonSources) (PersonRow, error) {
	f := func(name string) (store.AggregateValue, bool) { v, ok := rec.Fields[name]; return v, ok }
	row := PersonRow{
		Provider: rec.Fields[fProvider].Text, User: rec.Fields[fUser].Text,
		SignIns: rec.Fields[fSignIns].N, Issuances: rec.Fields[fIssuances].N,
		MFAFailures: rec.Fields[fMFAFailures].N, RecoveryCodesUsed: rec.Fields[fRecoveryUsed].N,
		LockOuts:         rec.Fields[fLockOuts].N,
		IssuancesPerRole: map[string]int64{},
	}
	row.FirstSeen = msTime(f(fFirstSeen))
	row.LastSignIn = msTime(f(fLastSignIn))
	row.LastIssuance = msTime(f(fLastIssuance))
	row.LastRevoked = msTime(f(fLastRevoked))
	for name, v := range rec.Fields {
		if role, ok := strings.CutPrefix(name, fIssuedPrefix); ok {
			row.IssuancesPerRole[role] = v.N
		}
	}
	if src != nil {
		n, err := src.ActiveSessions(ctx, row.Provider, row.User)
		if err != nil {
			return PersonRow{}, fmt.Errorf("reports: the sessions of %s/%s: %w", row.Provider, row.User, err)
		}
		row.ActiveSessions = n
		until, err := src.LockedUntil(ctx, row.Provider, row.User)
		if err != nil {
			return PersonRow{}, fmt.Errorf("reports: the lock-out of %s/%s: %w", row.Provider, row.User, err)
		}
		if !until.IsZero() {
			u := until.UTC().Truncate(time.Second)
			row.LockedUntil = &u
		}
	}
	if r.opts.MFA != nil {
		enrolled, last, err := r.opts.MFA.MFAStatus(ctx, row.Provider, row.User)
		if err != nil {
			return PersonRow{}, fmt.Errorf("reports: the MFA of %s/%s: %w", row.Provider, row.User, err)
		}
		row.MFAEnrolled = &enrolled
		if !last.IsZero() {
			l := last.UTC().Truncate(time.Second)
			row.MFALastUsed = &l
		}
	}
	return row, nil
}

// cell guards a text cell against formula injection: a spreadsheet would
// run a cell beginning with =, +, -, @, tab or CR as a formula (a username
// is whatever the upstream says), so such a cell gets a leading
// apostrophe, as OWASP advises.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// WriteCSV writes the report as CSV (RFC 4180, encoding/csv): the header
// row CredentialReportColumns, then one row per person. issuances_per_role
// is "<role ARN>=<count>" pairs separated by spaces, by ARN; mfa_enrolled
// is true, false, or empty when unknown. A provider or user beginning with
// =, +, -, @, tab or CR is written with a leading apostrophe (see cell).
func (rep *CredentialReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CredentialReportColumns); err != nil {
		return err
	}
	for _, p := range rep.People {
		roles := make([]string, 0, len(p.IssuancesPerRole))
		for arn, n := range p.IssuancesPerRole {
			roles = append(roles, arn+"="+strconv.FormatInt(n, 10))
		}
		sort.Strings(roles)
		enrolled := ""
		if p.MFAEnrolled != nil {
			enrolled = strconv.FormatBool(*p.MFAEnrolled)
		}
		rec := []string{
			cell(p.Provider), cell(p.User), csvTime(p.FirstSeen), csvTime(p.LastSignIn), strconv.FormatInt(p.SignIns, 10),
			csvTime(p.LastIssuance), strconv.FormatInt(p.Issuances, 10), strings.Join(roles, " "),
			enrolled, csvTime(p.MFALastUsed), strconv.FormatInt(p.MFAFailures, 10), strconv.FormatInt(p.RecoveryCodesUsed, 10),
			strconv.Itoa(p.ActiveSessions), csvTime(p.LockedUntil), strconv.FormatInt(p.LockOuts, 10), csvTime(p.LastRevoked),
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
