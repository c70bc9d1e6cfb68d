package main

import (
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
)

// TestLimitsAndMetricsKeys: the limits block and the metrics keys are
// read as written, and each problem names its key.
func TestLimitsAndMetricsKeys(t *testing.T) {
	good := withLimits(configs.Demo, "  per_user: {rate: 10, per: 1m, burst: 20}\n  per_source: {rate: 30, per: 1m}\n")
	good = []byte(strings.Replace(string(good), "server:\n", "server:\n  metrics_listen: 127.0.0.1:9090\n  metrics_on_public: true\n", 1))
	cfg, err := parseConfig(good, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits.limits()
	if l.PerUser == nil || l.PerUser.Rate != 10 || l.PerUser.Per != time.Minute || l.PerUser.Burst != 20 || l.PerRole != nil || l.PerSource == nil {
		t.Errorf("limits read as %+v %+v %+v", l.PerUser, l.PerRole, l.PerSource)
	}
	if cfg.Server.MetricsListen != "127.0.0.1:9090" || !cfg.Server.MetricsOnPublic {
		t.Errorf("server metrics keys read as %q %v", cfg.Server.MetricsListen, cfg.Server.MetricsOnPublic)
	}

	bad := withLimits(configs.Demo, "  per_user: {rate: 0, per: 1m}\n  per_role: {rate: 5, per: 10ms}\n  per_person: {rate: 1, per: 1m}\n")
	bad = []byte(strings.Replace(string(bad), "server:\n", "server:\n  metrics_listen: nonsense\n", 1))
	_, err = parseConfig(bad, noEnv)
	if err == nil {
		t.Fatal("a broken limits block was accepted")
	}
	for _, want := range []string{"limits.per_user.rate", "limits.per_role.per", "per_person", "server.metrics_listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no problem naming %s in:\n%v", want, err)
		}
	}
}
