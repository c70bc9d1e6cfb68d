package policy

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

func cacheDoc(i int) []byte {
	return []byte(fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b%d/*"}]}`, i))
}

func TestCache(t *testing.T) {
	type step struct {
		doc     int // -1: a malformed document
		name    string
		wantHit bool
	}
	cases := []struct {
		name              string
		max               int
		steps             []step
		wantHits, wantPar uint64
		wantLen           int
	}{
		{"second parse is a hit", 4, []step{{1, "s", false}, {1, "s", true}}, 1, 1, 1},
		{"name is part of the key", 4, []step{{1, "a", false}, {1, "b", false}, {1, "a", true}}, 1, 2, 2},
		{"errors are not cached", 4, []step{{-1, "s", false}, {-1, "s", false}}, 0, 2, 0},
		{"least recently used is evicted", 2, []step{
			{1, "s", false}, {2, "s", false}, {1, "s", true}, // order 1,2
			{3, "s", false},                 // evicts 2
			{1, "s", true}, {2, "s", false}, // 2 again evicts 3
			{3, "s", false},
		}, 2, 5, 2},
		{"size at least 1", 0, []step{{1, "s", false}, {1, "s", true}, {2, "s", false}, {1, "s", false}}, 1, 3, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCache(tc.max)
			for i, st := range tc.steps {
				doc := []byte(`{"Statement":`)
				if st.doc >= 0 {
					doc = cacheDoc(st.doc)
				}
				h0, _ := c.Stats()
				p, err := c.Parse(doc, Identity, st.name)
				if st.doc < 0 {
					var me *MalformedError
					if !errors.As(err, &me) {
						t.Fatalf("step %d: err %v, want *MalformedError", i, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if p.Name() != st.name || p.Kind() != Identity {
					t.Errorf("step %d: name %q kind %v", i, p.Name(), p.Kind())
				}
				if h1, _ := c.Stats(); (h1 > h0) != st.wantHit {
					t.Errorf("step %d: hit = %v, want %v", i, h1 > h0, st.wantHit)
				}
			}
			if h, p := c.Stats(); h != tc.wantHits || p != tc.wantPar {
				t.Errorf("hits %d parses %d, want %d %d", h, p, tc.wantHits, tc.wantPar)
			}
			if n := c.Len(); n != tc.wantLen {
				t.Errorf("Len = %d, want %d", n, tc.wantLen)
			}
		})
	}
}

func TestCacheKindIsPartOfTheKey(t *testing.T) {
	c := NewCache(4)
	trust := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`)
	if _, err := c.Parse(trust, Trust, "p"); err != nil {
		t.Fatal(err)
	}
	// The same text as an identity policy is malformed (a Principal): the
	// trust entry must not answer for it.
	if _, err := c.Parse(trust, Identity, "p"); err == nil {
		t.Fatal("trust policy accepted as an identity policy from the cache")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(3)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				d := (g + i) % 5
				p, err := c.Parse(cacheDoc(d), Identity, "s")
				if err != nil {
					t.Error(err)
					return
				}
				if res := p.Evaluate(&Request{Action: "s3:GetObject", Resource: fmt.Sprintf("arn:aws:s3:::b%d/k", d)}); res.Decision != Allow {
					t.Errorf("doc %d: %v", d, res.Decision)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if n := c.Len(); n > 3 {
		t.Errorf("Len = %d over the bound 3", n)
	}
	if h, p := c.Stats(); h+p != 8*200 {
		t.Errorf("hits %d + parses %d != %d", h, p, 8*200)
	}
}

func TestQuotaChecks(t *testing.T) {
	doc := func(n int) []byte {
		// A document of exactly n characters, whitespace not counted.
		base := `{"Statement":{"Sid":"","Effect":"Allow","Action":"*","Resource":"*"}}`
		pad := n - CharCountNoSpace(base)
		b := []byte(base[:len(`{"Statement":{"Sid":"`)])
		for i := 0; i < pad; i++ {
			b = append(b, 'a')
		}
		return append(append(b, base[len(`{"Statement":{"Sid":"`):]...), []byte("  \n\t ")...)
	}
	cases := []struct {
		name string
		err  error
		want bool // over quota
	}{
		{"managed at 6144", CheckManagedPolicySize(doc(MaxManagedPolicyChars)), false},
		{"managed at 6145", CheckManagedPolicySize(doc(MaxManagedPolicyChars + 1)), true},
		{"role inline 2 x 5120", CheckRoleInlinePolicySize([][]byte{doc(5120), doc(5120)}), false},
		{"role inline 5120 + 5121", CheckRoleInlinePolicySize([][]byte{doc(5120), doc(5121)}), true},
		{"role inline none", CheckRoleInlinePolicySize(nil), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(tc.err, ErrPolicyQuota); got != tc.want || (tc.err != nil) != tc.want {
				t.Errorf("err = %v, want over quota %v", tc.err, tc.want)
			}
		})
	}
	if n := CharCountNoSpace(string(doc(100))); n != 100 {
		t.Fatalf("test helper: %d characters", n)
	}
}
