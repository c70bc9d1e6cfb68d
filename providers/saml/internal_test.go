package saml

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	crewjam "github.com/crewjam/saml"
)

// TestMetadataBackoffLargeFailureCounts: the back-off doubles from
// metadataRetryMin up to the refresh interval, and stays there however many
// fetches have failed (no shift overflow into a negative or tiny wait).
func TestMetadataBackoffLargeFailureCounts(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		refresh  time.Duration
		failures int // consecutive failures before this one
		want     time.Duration
	}{
		{time.Hour, 0, 10 * time.Second},
		{time.Hour, 1, 20 * time.Second},
		{time.Hour, 8, 2560 * time.Second},
		{time.Hour, 9, time.Hour},
		{time.Hour, 29, time.Hour},
		{time.Hour, 30, time.Hour}, // the 31st failure: 10s<<30 overflows int64
		{time.Hour, 31, time.Hour},
		{time.Hour, 62, time.Hour},
		{time.Hour, 63, time.Hour},
		{time.Hour, 64, time.Hour},
		{time.Hour, 1000, time.Hour},
		{100000 * time.Hour, 30, 100000 * time.Hour},
		{100000 * time.Hour, 1 << 40, 100000 * time.Hour},
		{5 * time.Second, 0, 5 * time.Second},
		{5 * time.Second, 40, 5 * time.Second},
	}
	for _, tt := range tests {
		c := &metadataCache{
			src:      MetadataSource{URL: "https://idp.example/md", Refresh: tt.refresh},
			logger:   slog.New(slog.DiscardHandler),
			now:      func() time.Time { return now },
			failures: tt.failures,
		}
		c.record(errors.New("down"))
		if got := c.retryAt.Sub(now); got != tt.want {
			t.Errorf("refresh %v, failure %d: back-off %v, want %v", tt.refresh, tt.failures+1, got, tt.want)
		}
		if c.failures != tt.failures+1 {
			t.Errorf("failures %d, want %d", c.failures, tt.failures+1)
		}
	}
}

// TestCrewjamReasonTruncation: a long crewjam error is cut to
// maxCrewjamReason bytes on a rune boundary, so the reason stays valid UTF-8.
func TestCrewjamReasonTruncation(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short", "IssueInstant expired", "IssueInstant expired"},
		{"exactly the limit", strings.Repeat("a", maxCrewjamReason), strings.Repeat("a", maxCrewjamReason)},
		{"ascii over the limit", strings.Repeat("a", maxCrewjamReason+1), strings.Repeat("a", maxCrewjamReason) + "..."},
		{"two-byte rune across the limit", strings.Repeat("a", maxCrewjamReason-1) + "é" + "b", strings.Repeat("a", maxCrewjamReason-1) + "..."},
		{"three-byte runes", strings.Repeat("€", 200), strings.Repeat("€", maxCrewjamReason/3) + "..."},
		{"four-byte rune across the limit", strings.Repeat("a", maxCrewjamReason-2) + "😀", strings.Repeat("a", maxCrewjamReason-2) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := crewjamReason(errors.New(tt.in), nil)
			if got != tt.want {
				t.Fatalf("got %q (%d bytes), want %q", got, len(got), tt.want)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("reason %q is not valid UTF-8", got)
			}
		})
	}
}

// TestCrewjamReasonRedaction: a crewjam refusal's reason keeps the
// signature check's error whole, and of any other crewjam error only the
// leading clause, before the values crewjam formats in (some from the
// document).
func TestCrewjamReasonRedaction(t *testing.T) {
	wrap := func(private error) error { return &crewjam.InvalidResponseError{PrivateErr: private} }
	sig := errors.New("cannot validate signature on Assertion: Could not verify certificate against trusted certs")
	for _, tt := range []struct {
		name     string
		err, sig error
		want     string
	}{
		{"signature", wrap(sig), sig, sig.Error()},
		{"value after a colon", wrap(errors.New(`cannot unmarshal response: parsing time "CANARY" as "2006"`)), nil, "cannot unmarshal response"},
		{"quoted value", wrap(errors.New(`issuer is not "https://idp.example/CANARY"`)), nil, "issuer is not"},
		{"value in parentheses", wrap(errors.New(`expected one (CANARY)`)), nil, "expected one"},
		{"fixed text", wrap(errors.New("assertion Conditions is expired")), nil, "assertion Conditions is expired"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := crewjamReason(tt.err, tt.sig); got != tt.want || strings.Contains(got, "CANARY") {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
