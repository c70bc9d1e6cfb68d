package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// checkID refuses an id the backends cannot key safely.
func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: %s id is empty", ErrInvalid, what)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: %s id is %d bytes, more than %d", ErrInvalid, what, len(id), MaxIDLen)
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("%w: %s id contains a NUL byte", ErrInvalid, what)
	}
	return nil
}

// checkIndexKey refuses an index key the backends cannot key safely (File
// joins index and id with NUL; Redis scripts split index lists on NUL).
func checkIndexKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("%w: empty session index key", ErrInvalid)
	case len(k) > MaxIndexKeyLen:
		return fmt.Errorf("%w: session index key is %d bytes, more than %d", ErrInvalid, len(k), MaxIndexKeyLen)
	case strings.IndexByte(k, 0) >= 0:
		return fmt.Errorf("%w: session index key contains a NUL byte", ErrInvalid)
	}
	return nil
}

// normalizeSession validates s against now and returns the copy the store
// keeps: Data and Index copied (the caller may reuse its slices), Index
// without duplicates, Expires rounded down to the millisecond.
func normalizeSession(s SessionRecord, now time.Time) (SessionRecord, error) {
	if err := checkID("session", s.ID); err != nil {
		return SessionRecord{}, err
	}
	if len(s.Data) > MaxDataLen {
		return SessionRecord{}, fmt.Errorf("%w: session data is %d bytes, more than %d", ErrInvalid, len(s.Data), MaxDataLen)
	}
	if len(s.Index) > MaxIndexKeys {
		return SessionRecord{}, fmt.Errorf("%w: %d session index keys, more than %d", ErrInvalid, len(s.Index), MaxIndexKeys)
	}
	out := SessionRecord{ID: s.ID, Data: clone(s.Data), Expires: time.UnixMilli(s.Expires.UnixMilli())}
	for _, k := range s.Index {
		if err := checkIndexKey(k); err != nil {
			return SessionRecord{}, err
		}
		if !contains(out.Index, k) {
			out.Index = append(out.Index, k)
		}
	}
	if err := checkExpires("session", out.Expires, now); err != nil {
		return SessionRecord{}, err
	}
	return out, nil
}

// normalizeRevocation validates r against now and returns the copy the
// store keeps (Data copied, Expires rounded down to the millisecond).
func normalizeRevocation(r RevocationRecord, now time.Time) (RevocationRecord, error) {
	if err := checkID("revocation", r.ID); err != nil {
		return RevocationRecord{}, err
	}
	if len(r.Data) > MaxDataLen {
		return RevocationRecord{}, fmt.Errorf("%w: revocation data is %d bytes, more than %d", ErrInvalid, len(r.Data), MaxDataLen)
	}
	out := RevocationRecord{ID: r.ID, Data: clone(r.Data), Expires: time.UnixMilli(r.Expires.UnixMilli())}
	if err := checkExpires("revocation", out.Expires, now); err != nil {
		return RevocationRecord{}, err
	}
	return out, nil
}

// checkExpires refuses an expiry that is not in the future or further
// than MaxLifetime.
func checkExpires(what string, exp, now time.Time) error {
	switch {
	case !exp.After(now):
		return fmt.Errorf("%w: %s expires at %s, not in the future", ErrInvalid, what, exp.UTC().Format(time.RFC3339Nano))
	case exp.Sub(now) > MaxLifetime:
		return fmt.Errorf("%w: %s expires at %s, more than %s ahead", ErrInvalid, what, exp.UTC().Format(time.RFC3339Nano), MaxLifetime)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// clone copies b; a nil or empty b stays nil so records compare alike
// whichever backend returned them.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func cloneSession(s SessionRecord) SessionRecord {
	s.Data = clone(s.Data)
	s.Index = append([]string(nil), s.Index...)
	return s
}

// The binary encodings below are what File stores and what Redis carries
// for revocations. Each starts with a kind byte and a version byte; every
// length is checked against what remains, so a corrupt value is an error,
// never a panic or a huge allocation.
const (
	kindSession    = 'S'
	kindRevocation = 'R'
	codecVersion   = 1
)

var errCorrupt = errors.New("store: corrupt record")

// encodeSession encodes everything but the id (File keys records by id).
func encodeSession(s SessionRecord) []byte {
	n := 2 + binary.MaxVarintLen64*(3+len(s.Index)) + len(s.Data)
	for _, k := range s.Index {
		n += len(k)
	}
	b := make([]byte, 0, n)
	b = append(b, kindSession, codecVersion)
	b = binary.AppendVarint(b, s.Expires.UnixMilli())
	b = binary.AppendUvarint(b, uint64(len(s.Index)))
	for _, k := range s.Index {
		b = appendBytes(b, []byte(k))
	}
	return appendBytes(b, s.Data)
}

func decodeSession(id string, b []byte) (SessionRecord, error) {
	d := decoder{b: b}
	d.header(kindSession)
	s := SessionRecord{ID: id, Expires: time.UnixMilli(d.varint())}
	n := d.uvarint()
	if n > MaxIndexKeys {
		d.err = errCorrupt
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		s.Index = append(s.Index, string(d.bytes()))
	}
	s.Data = clone(d.bytes())
	if err := d.end(); err != nil {
		return SessionRecord{}, err
	}
	return s, nil
}

func encodeRevocation(r RevocationRecord) []byte {
	b := make([]byte, 0, 2+3*binary.MaxVarintLen64+len(r.ID)+len(r.Data))
	b = append(b, kindRevocation, codecVersion)
	b = appendBytes(b, []byte(r.ID))
	b = binary.AppendVarint(b, r.Expires.UnixMilli())
	return appendBytes(b, r.Data)
}

func decodeRevocation(b []byte) (RevocationRecord, error) {
	d := decoder{b: b}
	d.header(kindRevocation)
	r := RevocationRecord{ID: string(d.bytes())}
	r.Expires = time.UnixMilli(d.varint())
	r.Data = clone(d.bytes())
	if err := d.end(); err != nil {
		return RevocationRecord{}, err
	}
	if checkID("revocation", r.ID) != nil {
		return RevocationRecord{}, errCorrupt
	}
	return r, nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// decoder reads the encodings above; the first error sticks and every later
// read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) header(kind byte) {
	if len(d.b) < 2 || d.b[0] != kind || d.b[1] != codecVersion {
		d.err = errCorrupt
		return
	}
	d.b = d.b[2:]
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

// pageLimit is the page size ListSessionsPage uses for a requested limit.
func (l limits) pageLimit(limit int) int {
	if limit < 1 || limit > l.listSessions {
		return l.listSessions
	}
	return limit
}

// checkCursor refuses a Memory or File cursor that is not a session id
// (those cursors are the last id of the previous page).
func checkCursor(cursor string) error {
	if cursor == "" {
		return nil
	}
	if err := checkID("cursor", cursor); err != nil {
		return fmt.Errorf("%w: malformed cursor", ErrInvalid)
	}
	return nil
}
