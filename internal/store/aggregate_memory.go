package store

import (
	"context"
	"fmt"
	"time"
)

// UpdateAggregates implements Store.
func (m *Memory) UpdateAggregates(_ context.Context, updates []AggregateUpdate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	us, err := checkAggregateBatch(updates, m.now())
	if err != nil {
		return err
	}
	m.sweep()
	for _, u := range us {
		set := m.aggs[u.Set]
		if set == nil {
			set = map[string]AggregateRecord{}
			m.aggs[u.Set] = set
		}
		rec, ok := set[u.ID]
		if !ok || !m.now().Before(rec.Expires) {
			rec = AggregateRecord{Set: u.Set, ID: u.ID, Fields: map[string]AggregateValue{}}
		}
		applyAggregateOps(rec.Fields, u.Ops)
		rec.Expires = u.Expires
		set[u.ID] = rec
	}
	return nil
}

// GetAggregate implements Store.
func (m *Memory) GetAggregate(_ context.Context, set, id string) (AggregateRecord, error) {
	if err := checkAggregateSet(set); err != nil {
		return AggregateRecord{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.aggs[set][id]
	if !ok || !m.now().Before(rec.Expires) {
		return AggregateRecord{}, fmt.Errorf("aggregate %q of %q: %w", id, set, ErrNotFound)
	}
	rec.Fields = cloneFields(rec.Fields)
	return rec, nil
}

// ListAggregates implements Store.
func (m *Memory) ListAggregates(_ context.Context, set string) ([]AggregateRecord, error) {
	if err := checkAggregateSet(set); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := []AggregateRecord{}
	for _, rec := range m.aggs[set] {
		if !now.Before(rec.Expires) {
			continue
		}
		if len(out) == m.lim.listAggregates {
			return out, fmt.Errorf("aggregates of %q: %w", set, ErrTruncated)
		}
		rec.Fields = cloneFields(rec.Fields)
		out = append(out, rec)
	}
	return out, nil
}

// sweepAggregates drops expired aggregates; the caller holds mu.
func (m *Memory) sweepAggregates(now time.Time) {
	for name, set := range m.aggs {
		for id, rec := range set {
			if !now.Before(rec.Expires) {
				delete(set, id)
			}
		}
		if len(set) == 0 {
			delete(m.aggs, name)
		}
	}
}
