package store

import (
	"context"
	"errors"
	"time"
)

// Observed returns s with every call that fails because the store is
// unavailable (ErrUnavailable) reported to onError with the call's name,
// for the store errors metric. Everything else passes through unchanged;
// a method this wrapper does not list passes through uncounted.
func Observed(s Store, onError func(op string)) Store {
	if onError == nil {
		return s
	}
	return &observed{Store: s, onError: onError}
}

type observed struct {
	Store
	onError func(op string)
}

func (o *observed) check(op string, err error) error {
	if err != nil && errors.Is(err, ErrUnavailable) {
		o.onError(op)
	}
	return err
}

func (o *observed) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	ok, err := o.Store.Claim(ctx, key, until)
	return ok, o.check("Claim", err)
}

func (o *observed) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	n, err := o.Store.Incr(ctx, key, ttl)
	return n, o.check("Incr", err)
}

func (o *observed) Get(ctx context.Context, key string) (int64, error) {
	n, err := o.Store.Get(ctx, key)
	return n, o.check("Get", err)
}

func (o *observed) SetTTL(ctx context.Context, key string, value int64, ttl time.Duration) error {
	return o.check("SetTTL", o.Store.SetTTL(ctx, key, value, ttl))
}

func (o *observed) TTL(ctx context.Context, key string) (time.Duration, error) {
	d, err := o.Store.TTL(ctx, key)
	return d, o.check("TTL", err)
}

func (o *observed) Delete(ctx context.Context, key string) error {
	return o.check("Delete", o.Store.Delete(ctx, key))
}

func (o *observed) TakeRate(ctx context.Context, rates []Rate) (RateResult, error) {
	r, err := o.Store.TakeRate(ctx, rates)
	return r, o.check("TakeRate", err)
}

func (o *observed) CountSessions(ctx context.Context) (int, error) {
	n, err := o.Store.CountSessions(ctx)
	return n, o.check("CountSessions", err)
}

func (o *observed) PutSession(ctx context.Context, s SessionRecord) error {
	return o.check("PutSession", o.Store.PutSession(ctx, s))
}

func (o *observed) GetSession(ctx context.Context, id string) (SessionRecord, error) {
	s, err := o.Store.GetSession(ctx, id)
	return s, o.check("GetSession", err)
}

func (o *observed) DeleteSession(ctx context.Context, id string) error {
	return o.check("DeleteSession", o.Store.DeleteSession(ctx, id))
}

func (o *observed) ListSessions(ctx context.Context, index string) ([]SessionRecord, error) {
	s, err := o.Store.ListSessions(ctx, index)
	return s, o.check("ListSessions", err)
}

func (o *observed) ListSessionsPage(ctx context.Context, index, cursor string, limit int) ([]SessionRecord, string, error) {
	s, next, err := o.Store.ListSessionsPage(ctx, index, cursor, limit)
	return s, next, o.check("ListSessionsPage", err)
}

func (o *observed) AddRevocation(ctx context.Context, r RevocationRecord) error {
	return o.check("AddRevocation", o.Store.AddRevocation(ctx, r))
}

func (o *observed) Revocations(ctx context.Context) ([]RevocationRecord, error) {
	r, err := o.Store.Revocations(ctx)
	return r, o.check("Revocations", err)
}

func (o *observed) Ping(ctx context.Context) error {
	return o.check("Ping", o.Store.Ping(ctx))
}
