package main

import (
	"errors"
	"strings"
	"testing"
)

// TestReportsRetentionChecked: reports.retention out of range, or not a
// duration, is a problem naming the key; in range it is taken.
func TestReportsRetentionChecked(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"1h", "reports.retention: 1h0m0s must be between 24h and"},
		{"9000h", "reports.retention: 9000h0m0s must be between 24h and"},
		{"soon", "invalid duration \"soon\""},
	} {
		cfg := strings.Replace(string(revocationConfig), "store: {type: memory}", "store: {type: memory}\nreports: {retention: "+tc.value+"}", 1)
		_, err := parseConfig([]byte(cfg), noEnv)
		var ce *configError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("retention %s: %v, want %q", tc.value, err, tc.want)
		}
	}
	cfg := strings.Replace(string(revocationConfig), "store: {type: memory}", "store: {type: memory}\nreports: {retention: 720h}", 1)
	c, err := parseConfig([]byte(cfg), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.rolePolicies()["arn:aws:iam::123456789012:role/Developer"]; len(got) != 1 {
		t.Errorf("Developer's policies: %d documents", len(got))
	}
}
