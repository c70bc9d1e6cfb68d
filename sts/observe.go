package sts

import (
	"context"
	"time"
)

// Observer receives the STS's measurements (cmd/idbroker wires
// internal/metrics). Its label values are bounded: actions are those the
// STS serves, codes the AWS error codes it answers, roles configured ones.
type Observer interface {
	// ObserveRequest is called once per Query API request as it is
	// answered: its action ("" when none was given or it names no action
	// served here), the AWS error code ("" when it succeeded) and how long
	// it took.
	ObserveRequest(action, code string, took time.Duration)
	// ObserveIssued is called for credentials issued on a request made
	// to the Query API directly (the requests limits.go limits): the
	// broker counts those it issues itself by surface.
	ObserveIssued(action, roleARN string)
}

func (s *Service) observeRequest(action, code string, start time.Time) {
	if s.observer != nil {
		s.observer.ObserveRequest(action, code, time.Since(start))
	}
}

func (s *Service) observeIssued(ctx context.Context, ev AuditEvent) {
	if s.observer == nil {
		return
	}
	if _, direct := directAction(ctx); direct {
		s.observer.ObserveIssued(ev.Action, ev.RoleARN)
	}
}
