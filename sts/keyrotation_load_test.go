package sts_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/idbroker/idbroker/sts"
)

// keyOf is the id of the key that sealed a session token (it travels in
// the clear, authenticated).
func keyOf(tok string) string {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 2 || len(raw) < 2+int(raw[1]) {
		return ""
	}
	return string(raw[2 : 2+int(raw[1])])
}

// Rotating the key directory while many clients call GetCallerIdentity and
// AssumeRole over HTTP (the STS following the directory with Watch, as
// serve runs it) fails no request: credentials sealed by every key of the
// run keep verifying, and the new keys do seal.
func TestRotationUnderLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := sts.InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	ring, err := sts.LoadKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, func(e *env, cfg *sts.Config) {
		cfg.Keys, e.keys = ring, ring
		cfg.Roles = append(cfg.Roles, sts.RoleConfig{Name: "hop",
			TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:role/ci/ci-deployer"},"Action":"sts:AssumeRole"}]}`)})
	})
	ctx, cancel := context.WithCancel(context.Background())
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		ring.Watch(ctx, 5*time.Millisecond, nil)
	}()
	t.Cleanup(func() { cancel(); <-watching })

	const workers = 8
	var (
		calls, failures atomic.Int64
		stop            = make(chan struct{})
		wg              sync.WaitGroup
		mu              sync.Mutex
		sealers         = map[string]bool{}
		firstErr        error
	)
	fail := func(err error) {
		failures.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	seal := func(tok string) {
		mu.Lock()
		defer mu.Unlock()
		sealers[keyOf(tok)] = true
	}
	// Every worker keeps credentials from before the first rotation and
	// mints more (web identity, then AssumeRole) as the keys change.
	base := make([]*awssts.AssumeRoleWithWebIdentityOutput, workers)
	for i := range base {
		base[i] = e.assume(t, "load")
		seal(*base[i].Credentials.SessionToken)
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held := []aws.CredentialsProvider{staticCreds(base[w])}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx := context.Background()
				for _, c := range held {
					calls.Add(1)
					if _, err := e.client(c).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{}); err != nil {
						fail(err)
					}
				}
				calls.Add(1)
				out, err := e.client(held[0]).AssumeRole(ctx, &awssts.AssumeRoleInput{
					RoleArn: aws.String("arn:aws:iam::" + testAccount + ":role/hop"), RoleSessionName: aws.String("hop")})
				if err != nil {
					fail(err)
					continue
				}
				seal(*out.Credentials.SessionToken)
				hop := staticProvider(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
				if len(held) < 4 {
					held = append(held, hop)
				} else {
					held[1+i%3] = hop
				}
			}
		}()
	}

	// Rotations: at once, and scheduled a little ahead (the new key
	// verifies before it seals); each waits until the ring seals with it
	// and requests have used it.
	for i, after := range []time.Duration{0, 20 * time.Millisecond, 0, 50 * time.Millisecond, 0} {
		rot, err := sts.RotateKeyDir(dir, time.Now(), after)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			used := sealers[rot.ID]
			mu.Unlock()
			if used && ring.ActiveKeyID() == rot.ID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rotation %d: key %s never sealed (active %s)", i, rot.ID, ring.ActiveKeyID())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		var ae interface{ ErrorCode() string }
		code := ""
		if errors.As(firstErr, &ae) {
			code = ae.ErrorCode()
		}
		t.Fatalf("%d of %d requests failed during rotations; first: %s %v", n, calls.Load(), code, firstErr)
	}
	if len(sealers) < 6 || len(ring.KeyIDs()) != 6 {
		t.Errorf("tokens sealed by %d keys, ring holds %v", len(sealers), ring.KeyIDs())
	}
	t.Logf("%d requests, %d keys, no failure", calls.Load(), len(sealers))
}
