package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/reports"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/internal/yamltypes"
)

// reportsConfig is the top-level reports block: the aggregates behind the
// credential report and the access advisor (internal/reports).
//
//	reports:
//	  retention: 2160h   # how long a person or an action is kept after its last event (24h..8784h; default 90 days)
type reportsConfig struct {
	Retention yamltypes.Duration `yaml:"retention"`
}

func (c reportsConfig) validate() []error {
	if err := reports.ValidateRetention(time.Duration(c.Retention)); err != nil {
		return []error{fmt.Errorf("reports.retention: %w", err)}
	}
	return nil
}

// rolePolicies are the permission policy documents of each configured role
// by ARN: its inline policies and the managed policies it attaches (the
// access advisor lists what they allow that nobody used).
func (c *fileConfig) rolePolicies() map[string][][]byte {
	managed := map[string][]byte{}
	for _, p := range c.Policies {
		managed[awsspec.PolicyARN(c.Partition, c.AccountID, p.Name)] = p.Document.JSON
	}
	out := make(map[string][][]byte, len(c.Roles))
	for _, r := range c.Roles {
		docs := [][]byte{}
		for _, p := range r.Policies {
			docs = append(docs, p.JSON)
		}
		for _, arn := range r.PolicyARNs {
			if doc, ok := managed[arn]; ok {
				docs = append(docs, doc)
			}
		}
		out[c.roleARN(r)] = docs
	}
	return out
}

// newReports starts the reports' recorder on st, its MFA columns read from
// mfa (the app closes it before the store).
func newReports(c *fileConfig, st store.Store, mfa reports.MFAStatus, log *slog.Logger) (*reports.Recorder, error) {
	return reports.New(st, reports.Options{
		Retention:    time.Duration(c.Reports.Retention),
		RolePolicies: c.rolePolicies(),
		MFA:          mfa,
		Logger:       log,
	})
}
