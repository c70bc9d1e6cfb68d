package main

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestSAMLPoolAndFloor: pooled Responses are unique, and the floor accepts
// them for the bench role and refuses a tampered one, another role, and
// one past its NotOnOrAfter.
func TestSAMLPoolAndFloor(t *testing.T) {
	idp, err := newSAMLIdP(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := idp.mintPool(context.Background(), 4)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range pool {
		if seen[p] {
			t.Fatal("duplicate Response in the pool")
		}
		seen[p] = true
	}
	fs, err := loadFloorSAML(idp.certPath)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	session, err := fs.verify(pool[1], benchRoleARN, samlProviderARN, now)
	if err != nil || session != "saml-000001" {
		t.Fatalf("floor refused a pooled Response: %q %v", session, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(pool[1])
	tampered := base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), "saml-000001", "saml-000009", 1)))
	for name, tc := range map[string]struct {
		resp, role string
		at         time.Time
	}{
		"tampered":   {tampered, benchRoleARN, now},
		"other role": {pool[1], "arn:aws:iam::" + benchAccount + ":role/Other", now},
		"expired":    {pool[1], benchRoleARN, now.Add(11 * time.Minute)},
		"not base64": {"%%%", benchRoleARN, now},
	} {
		if _, err := fs.verify(tc.resp, tc.role, samlProviderARN, tc.at); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBenchConfigSAML(t *testing.T) {
	idp, err := newSAMLIdP(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := benchConfig("127.0.0.1:8080", "http://127.0.0.1:18081", "$2a$04$abcdefghijklmnopqrstuuWFEZMEsWOBBa0M8VXGVDt8tdnEc2WG6", nil, idp, deployment{})
	var doc struct {
		Roles []struct {
			TrustPolicy struct {
				Statement []struct {
					Principal map[string]string `yaml:"Principal"`
					Action    string            `yaml:"Action"`
				} `yaml:"Statement"`
			} `yaml:"trust_policy"`
		} `yaml:"roles"`
		STS struct {
			SAMLProviders []struct {
				Name         string `yaml:"name"`
				MetadataFile string `yaml:"metadata_file"`
			} `yaml:"saml_providers"`
		} `yaml:"sts"`
	}
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
		t.Fatalf("config is not YAML: %v\n%s", err, cfg)
	}
	if len(doc.STS.SAMLProviders) != 1 || doc.STS.SAMLProviders[0].Name != samlProviderName || doc.STS.SAMLProviders[0].MetadataFile != idp.metadataPath {
		t.Fatalf("saml_providers: %+v", doc.STS.SAMLProviders)
	}
	found := false
	for _, st := range doc.Roles[0].TrustPolicy.Statement {
		found = found || (st.Action == "sts:AssumeRoleWithSAML" && st.Principal["Federated"] == samlProviderARN)
	}
	if !found {
		t.Fatalf("role does not trust the SAML provider:\n%s", cfg)
	}
}
