package store

import (
	"testing"
	"time"
)

// FuzzDecode: no byte string makes the decoders panic, and what decodes
// survives a round trip unchanged (the bytes may differ: varints need not
// be minimal).
func FuzzDecode(f *testing.F) {
	exp := time.UnixMilli(1_700_000_000_123)
	f.Add(encodeSession(SessionRecord{Data: []byte("d"), Index: []string{"user:a", "provider:b"}, Expires: exp}))
	f.Add(encodeSession(SessionRecord{Expires: exp}))
	f.Add(encodeRevocation(RevocationRecord{ID: "r1", Data: []byte{0, 1}, Expires: exp}))
	f.Add([]byte{})
	f.Add([]byte{'S', 1, 0x80})
	f.Add([]byte{'R', 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeSession("id", b); err == nil {
			again, err := decodeSession("id", encodeSession(s))
			if err != nil || !sameSession(s, again) || len(s.Index) != len(again.Index) {
				t.Fatalf("session %x: %+v round-trips as %+v, %v", b, s, again, err)
			}
		}
		if r, err := decodeRevocation(b); err == nil {
			again, err := decodeRevocation(encodeRevocation(r))
			if err != nil || again.ID != r.ID || string(again.Data) != string(r.Data) || !again.Expires.Equal(r.Expires) {
				t.Fatalf("revocation %x: %+v round-trips as %+v, %v", b, r, again, err)
			}
		}
	})
}
