package sts

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"testing"
)

// referenceSecret is the secret access key derivation written out: a fresh
// HMAC keyed with the ring key's secret for every access key id.
func referenceSecret(k *ringKey, akid string) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(akid))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:40]
}

// TestDeriveSecretMatchesReference: cloning the key's prepared MAC gives the
// secret a freshly keyed HMAC gives, from many goroutines at once (the
// prepared MAC is shared and must never be written), and a key without a
// prepared MAC still derives it.
func TestDeriveSecretMatchesReference(t *testing.T) {
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	k := kr.sealingKey()
	akids := []string{"", "ASIAAAAAAAAAAAAAAAAA", "ASIA7QZ2K4XJ3L5M6N7P", "x"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				for _, a := range akids {
					if got, want := k.deriveSecret(a), referenceSecret(k, a); got != want {
						t.Errorf("deriveSecret(%q) = %q, want %q", a, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	bare := &ringKey{id: k.id, aead: k.aead, secret: k.secret}
	if got, want := bare.deriveSecret(akids[1]), referenceSecret(k, akids[1]); got != want {
		t.Errorf("without a prepared MAC: %q, want %q", got, want)
	}
}

// BenchmarkDeriveSecret is the secret of one access key id, as mint and
// every signed request's authentication derive it, from the key's prepared
// MAC and (for comparison) from a freshly keyed one.
func BenchmarkDeriveSecret(b *testing.B) {
	kr, err := GenerateKeyRing()
	if err != nil {
		b.Fatal(err)
	}
	k := kr.sealingKey()
	for _, tc := range []struct {
		name   string
		derive func(*ringKey, string) string
	}{{"prepared", (*ringKey).deriveSecret}, {"fresh-hmac", referenceSecret}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = tc.derive(k, "ASIA7QZ2K4XJ3L5M6N7P")
			}
		})
	}
}
