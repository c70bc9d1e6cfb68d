package store

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Aggregates are small records of named numeric fields that many events
// update in place: counters (how many sign-ins), latest or earliest times
// (last sign-in, first seen) and the text that goes with such a time (who
// asked last). Every operation commutes with the others of its field, so
// replicas updating one record at once lose nothing, and a batch of events
// folded into one update gives the same record as the events one by one.
//
// A record lives in a named set (one report's rows: "person", "access/<role
// ARN>") under an id, and disappears at its Expires; each update sets a new
// Expires (a record nobody updates for a while goes away by itself).

// AggregateKind is what an AggregateOp does to its field.
type AggregateKind uint8

const (
	// AggregateAdd adds N to the field (a missing field counts as 0). Text
	// is ignored.
	AggregateAdd AggregateKind = iota + 1
	// AggregateMax sets the field to N and Text when it is missing or N is
	// not less than its value (a tie takes the new one: of two updates
	// stamped with the same time, the one applied later is the latest).
	AggregateMax
	// AggregateMin sets the field to N and Text when it is missing or N is
	// less than its value (a tie keeps the value there).
	AggregateMin
)

// Limits on aggregates.
const (
	// MaxAggregateSetLen is the longest set name, in bytes.
	MaxAggregateSetLen = 1024
	// MaxAggregateFieldLen is the longest field name, in bytes.
	MaxAggregateFieldLen = 512
	// MaxAggregateTextLen is the longest Text, in bytes.
	MaxAggregateTextLen = 1024
	// MaxAggregateOps is the most operations one update carries.
	MaxAggregateOps = 256
	// MaxAggregateFields is the most fields a record holds: an operation
	// that would add a field past it is ignored (the others apply).
	MaxAggregateFields = 512
	// MaxAggregateBatch is the most updates one UpdateAggregates call takes.
	MaxAggregateBatch = 1000
	// MaxListAggregates is the most records one ListAggregates call
	// returns; past it the call returns those records and ErrTruncated.
	MaxListAggregates = 10000
)

// AggregateOp is one change to one field of an aggregate record.
type AggregateOp struct {
	// Field names the field: 1 to MaxAggregateFieldLen bytes, no NUL.
	Field string
	Kind  AggregateKind
	N     int64
	// Text goes with N for AggregateMax and AggregateMin (at most
	// MaxAggregateTextLen bytes).
	Text string
}

// AggregateUpdate is the operations on one record, applied atomically.
type AggregateUpdate struct {
	// Set names the record's set: 1 to MaxAggregateSetLen bytes, no NUL.
	Set string
	// ID names the record in its set: 1 to MaxIDLen bytes, no NUL.
	ID string
	// Ops are applied in order (1 to MaxAggregateOps of them).
	Ops []AggregateOp
	// Expires replaces the record's expiry: in the future, at most
	// MaxLifetime away; kept to the millisecond.
	Expires time.Time
}

// AggregateValue is one field of a record: its number and, for fields set
// by AggregateMax or AggregateMin, the text that came with it.
type AggregateValue struct {
	N    int64
	Text string
}

// AggregateRecord is a record as the store returns it.
type AggregateRecord struct {
	Set, ID string
	Fields  map[string]AggregateValue
	Expires time.Time
}

// checkAggregateSet refuses a set name the backends cannot key safely
// (both key a record "<set>\0<id>").
func checkAggregateSet(set string) error {
	switch {
	case set == "":
		return fmt.Errorf("%w: aggregate set is empty", ErrInvalid)
	case len(set) > MaxAggregateSetLen:
		return fmt.Errorf("%w: aggregate set is %d bytes, more than %d", ErrInvalid, len(set), MaxAggregateSetLen)
	case strings.IndexByte(set, 0) >= 0:
		return fmt.Errorf("%w: aggregate set contains a NUL byte", ErrInvalid)
	}
	return nil
}

// normalizeAggregate validates u against now and returns the copy the
// store applies (Expires rounded down to the millisecond).
func normalizeAggregate(u AggregateUpdate, now time.Time) (AggregateUpdate, error) {
	if err := checkAggregateSet(u.Set); err != nil {
		return AggregateUpdate{}, err
	}
	if err := checkID("aggregate", u.ID); err != nil {
		return AggregateUpdate{}, err
	}
	if len(u.Ops) == 0 || len(u.Ops) > MaxAggregateOps {
		return AggregateUpdate{}, fmt.Errorf("%w: %d aggregate operations, want 1 to %d", ErrInvalid, len(u.Ops), MaxAggregateOps)
	}
	for _, op := range u.Ops {
		switch {
		case op.Field == "" || len(op.Field) > MaxAggregateFieldLen || strings.IndexByte(op.Field, 0) >= 0:
			return AggregateUpdate{}, fmt.Errorf("%w: aggregate field must be 1 to %d bytes without NUL", ErrInvalid, MaxAggregateFieldLen)
		case op.Kind < AggregateAdd || op.Kind > AggregateMin:
			return AggregateUpdate{}, fmt.Errorf("%w: unknown aggregate operation %d", ErrInvalid, op.Kind)
		case len(op.Text) > MaxAggregateTextLen:
			return AggregateUpdate{}, fmt.Errorf("%w: aggregate text is %d bytes, more than %d", ErrInvalid, len(op.Text), MaxAggregateTextLen)
		}
	}
	u.Ops = append([]AggregateOp(nil), u.Ops...)
	u.Expires = time.UnixMilli(u.Expires.UnixMilli())
	if err := checkExpires("aggregate", u.Expires, now); err != nil {
		return AggregateUpdate{}, err
	}
	return u, nil
}

// checkAggregateBatch validates a batch and returns its normalized copy.
func checkAggregateBatch(us []AggregateUpdate, now time.Time) ([]AggregateUpdate, error) {
	if len(us) > MaxAggregateBatch {
		return nil, fmt.Errorf("%w: %d aggregate updates, more than %d", ErrInvalid, len(us), MaxAggregateBatch)
	}
	out := make([]AggregateUpdate, 0, len(us))
	for _, u := range us {
		n, err := normalizeAggregate(u, now)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// applyAggregateOps applies ops to fields (the Memory and File backends;
// the Redis script does the same).
func applyAggregateOps(fields map[string]AggregateValue, ops []AggregateOp) {
	for _, op := range ops {
		v, ok := fields[op.Field]
		if !ok && len(fields) >= MaxAggregateFields {
			continue
		}
		switch op.Kind {
		case AggregateAdd:
			v.N += op.N
		case AggregateMax:
			if ok && op.N < v.N {
				continue
			}
			v = AggregateValue{N: op.N, Text: op.Text}
		case AggregateMin:
			if ok && op.N >= v.N {
				continue
			}
			v = AggregateValue{N: op.N, Text: op.Text}
		}
		fields[op.Field] = v
	}
}

func cloneFields(f map[string]AggregateValue) map[string]AggregateValue {
	out := make(map[string]AggregateValue, len(f))
	for k, v := range f {
		out[k] = v
	}
	return out
}

// The File encoding of an aggregate: kind, version, the expiry (Unix ms,
// 8 bytes big-endian, so the sweep reads it without decoding the rest),
// then the fields.
const kindAggregate = 'A'

func encodeAggregate(fields map[string]AggregateValue, expires time.Time) []byte {
	b := make([]byte, 0, 10+len(fields)*24)
	b = append(b, kindAggregate, codecVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(expires.UnixMilli()))
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for k, v := range fields {
		b = appendBytes(b, []byte(k))
		b = binary.AppendVarint(b, v.N)
		b = appendBytes(b, []byte(v.Text))
	}
	return b
}

// aggregateExpiry reads the expiry of an encoded aggregate.
func aggregateExpiry(b []byte) (time.Time, error) {
	if len(b) < 10 || b[0] != kindAggregate || b[1] != codecVersion {
		return time.Time{}, errCorrupt
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b[2:10]))), nil
}

func decodeAggregate(set, id string, b []byte) (AggregateRecord, error) {
	exp, err := aggregateExpiry(b)
	if err != nil {
		return AggregateRecord{}, err
	}
	d := decoder{b: b[10:]}
	n := d.uvarint()
	if n > MaxAggregateFields {
		d.err = errCorrupt
	}
	rec := AggregateRecord{Set: set, ID: id, Expires: exp, Fields: make(map[string]AggregateValue, min(n, MaxAggregateFields))}
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := string(d.bytes())
		v := AggregateValue{N: d.varint()}
		v.Text = string(d.bytes())
		rec.Fields[k] = v
	}
	if err := d.end(); err != nil {
		return AggregateRecord{}, err
	}
	return rec, nil
}
