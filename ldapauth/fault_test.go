package ldapauth

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// LDAP protocol op tags (RFC 4511).
const (
	opBindRequest      = 0
	opBindResponse     = 1
	opSearchRequest    = 3
	opSearchResultDone = 5
	opSearchResultRef  = 19
	opExtendedRequest  = 23
	opExtendedResponse = 24
)

// fakeServer is a scripted LDAP peer for fault injection. handle gets each
// request (message ID, op tag) and returns the responses to write; nil
// writes nothing (the request hangs).
type fakeServer struct {
	ln       net.Listener
	handle   func(id int64, op ber.Tag, req *ber.Packet) []*ber.Packet
	onAccept func(net.Conn) bool // false: the server handled the conn itself

	mu   sync.Mutex
	ops  []ber.Tag
	seen []string // printable request summaries
	wg   sync.WaitGroup
}

func startFake(t *testing.T, f *fakeServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	var conns sync.Map
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				if f.onAccept != nil && !f.onAccept(c) {
					return
				}
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		f.wg.Wait()
	})
	return "ldap://" + ln.Addr().String()
}

func (f *fakeServer) serve(c net.Conn) {
	for {
		p, err := ber.ReadPacket(c)
		if err != nil || len(p.Children) < 2 {
			return
		}
		id, _ := p.Children[0].Value.(int64)
		op := p.Children[1].Tag
		f.mu.Lock()
		f.ops = append(f.ops, op)
		f.mu.Unlock()
		if op == 2 { // unbind
			return
		}
		for _, r := range f.handle(id, op, p.Children[1]) {
			if _, err := c.Write(r.Bytes()); err != nil {
				return
			}
		}
	}
}

func (f *fakeServer) sawOp(op ber.Tag) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.ops {
		if o == op {
			return true
		}
	}
	return false
}

func envelope(id int64, op *ber.Packet) *ber.Packet {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "id"))
	p.AppendChild(op)
	return p
}

func ldapResult(tag ber.Tag, code int64, diag string, referrals ...string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "result")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, "code"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, "diag"))
	if len(referrals) > 0 {
		ref := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "referral")
		for _, r := range referrals {
			ref.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, r, "uri"))
		}
		op.AppendChild(ref)
	}
	return op
}

func searchRef(uri string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opSearchResultRef, nil, "ref")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, uri, "uri"))
	return op
}

func faultConfig(url string) Config {
	return Config{
		URLs:           []string{url},
		InsecureNoTLS:  true,
		BindDN:         "cn=reader,dc=example,dc=org",
		BindPassword:   "reader-CANARY-fault",
		UserSearch:     UserSearch{BaseDN: "dc=example,dc=org"},
		DialTimeout:    500 * time.Millisecond,
		RequestTimeout: 500 * time.Millisecond,
		LoginTimeout:   2 * time.Second,
	}
}

// egressSentinel counts connections; referral URIs point at it.
func egressSentinel(t *testing.T) (string, *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "ldap://" + ln.Addr().String() + "/dc=example,dc=org", &n
}

func TestFaults(t *testing.T) {
	sentinelURL, egress := egressSentinel(t)
	bindOK := func(id int64, op ber.Tag) []*ber.Packet {
		if op == opBindRequest {
			return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 0, ""))}
		}
		return nil
	}
	tests := []struct {
		name     string
		fake     *fakeServer
		startTLS bool
		want     error
		noBind   bool // no BindRequest may reach the fake
	}{
		{
			name: "accepts and never answers",
			fake: &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet { return nil }},
			want: ErrUnavailable,
		},
		{
			name: "resets the connection",
			fake: &fakeServer{onAccept: func(c net.Conn) bool {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				return false
			}},
			want: ErrUnavailable,
		},
		{
			name: "resets after bind",
			fake: &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet {
				if op == opBindRequest {
					return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 0, ""))}
				}
				return []*ber.Packet{ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "garbage", "")}
			}},
			want: ErrUnavailable,
		},
		{
			name: "search result reference",
			fake: &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet {
				if op == opSearchRequest {
					return []*ber.Packet{envelope(id, searchRef(sentinelURL)), envelope(id, ldapResult(opSearchResultDone, 0, ""))}
				}
				return bindOK(id, op)
			}},
			want: ErrConfiguration,
		},
		{
			name: "referral result",
			fake: &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet {
				if op == opSearchRequest {
					return []*ber.Packet{envelope(id, ldapResult(opSearchResultDone, 10, "go elsewhere", sentinelURL))}
				}
				return bindOK(id, op)
			}},
			want: ErrConfiguration,
		},
		{
			name:     "StartTLS refused (protocolError)",
			startTLS: true,
			fake: &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet {
				if op == opExtendedRequest {
					return []*ber.Packet{envelope(id, ldapResult(opExtendedResponse, 2, "no TLS here"))}
				}
				return bindOK(id, op)
			}},
			want: ErrUnavailable, noBind: true,
		},
		{
			name:     "StartTLS unavailable (52)",
			startTLS: true,
			fake: &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet {
				if op == opExtendedRequest {
					return []*ber.Packet{envelope(id, ldapResult(opExtendedResponse, 52, ""))}
				}
				return bindOK(id, op)
			}},
			want: ErrUnavailable, noBind: true,
		},
		{
			name:     "StartTLS accepted then plaintext",
			startTLS: true,
			fake: &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet {
				if op == opExtendedRequest {
					return []*ber.Packet{envelope(id, ldapResult(opExtendedResponse, 0, ""))}
				}
				return bindOK(id, op)
			}},
			want: ErrUnavailable, noBind: true,
		},
		{
			name:     "StartTLS never answered",
			startTLS: true,
			fake:     &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet { return nil }},
			want:     ErrUnavailable, noBind: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := startFake(t, tc.fake)
			cfg := faultConfig(url)
			if tc.startTLS {
				cfg.InsecureNoTLS = false
				cfg.StartTLS = true
			}
			c, logs := newClient(t, cfg)
			start := time.Now()
			res, err := c.Authenticate(context.Background(), "alice", "alice-CANARY-pw")
			elapsed := time.Since(start)
			if res != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Authenticate = %v, %v; want %v", res, err, tc.want)
			}
			if elapsed > 2500*time.Millisecond {
				t.Errorf("took %v, beyond the timeouts", elapsed)
			}
			if tc.noBind && tc.fake.sawOp(opBindRequest) {
				t.Error("a BindRequest reached the server without TLS")
			}
			if strings.Contains(logs.String(), "CANARY") || strings.Contains(err.Error(), "CANARY") {
				t.Error("secret leaked")
			}
		})
	}
	if n := egress.Load(); n != 0 {
		t.Errorf("referral chased: %d connections to the sentinel", n)
	}
}

func TestContextDeadlineWins(t *testing.T) {
	f := &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet { return nil }}
	cfg := faultConfig(startFake(t, f))
	cfg.RequestTimeout = time.Minute
	cfg.LoginTimeout = time.Minute
	c, _ := newClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Authenticate(ctx, "alice", "pw")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v; ctx deadline was 300ms", d)
	}
	// Cancellation too.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel2() }()
	start = time.Now()
	if _, err := c.Authenticate(ctx2, "alice", "pw"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("cancelled: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

// A server that returns the same paging cookie forever must not loop us.
func TestEndlessPagingCookie(t *testing.T) {
	var searches atomic.Int32
	f := &fakeServer{handle: func(id int64, op ber.Tag, req *ber.Packet) []*ber.Packet {
		switch op {
		case opBindRequest:
			return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 0, ""))}
		case opSearchRequest:
			n := searches.Add(1)
			if n == 1 { // user search: one entry
				e := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "entry")
				e.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=alice,dc=example,dc=org", "dn"))
				attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attrs")
				a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attr")
				a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid", "type"))
				vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "vals")
				vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "alice", "v"))
				a.AppendChild(vals)
				attrs.AppendChild(a)
				e.AppendChild(attrs)
				return []*ber.Packet{envelope(id, e), envelope(id, ldapResult(opSearchResultDone, 0, ""))}
			}
			done := envelope(id, ldapResult(opSearchResultDone, 0, ""))
			ctrls := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "controls")
			pc := ldap.NewControlPaging(500)
			pc.SetCookie([]byte("same-cookie"))
			ctrls.AppendChild(pc.Encode())
			done.AppendChild(ctrls)
			return []*ber.Packet{done}
		}
		return nil
	}}
	cfg := faultConfig(startFake(t, f))
	cfg.GroupSearch = GroupSearch{BaseDN: "ou=groups,dc=example,dc=org", MaxGroups: 2000}
	c, _ := newClient(t, cfg)
	_, err := c.Authenticate(context.Background(), "alice", "pw")
	if !errors.Is(err, ErrConfiguration) {
		t.Fatalf("err = %v, want ErrConfiguration (page cap)", err)
	}
	if n := searches.Load(); n > 10 {
		t.Errorf("%d searches", n)
	}
}

// The protocol work for an unknown user matches a wrong password: service
// bind, search, one more bind (the user's or the dummy one), then the
// service bind again (a connection is never pooled bound as a user). An
// empty password or an impossible username sends nothing at all.
func TestEquivalentWorkOnTheWire(t *testing.T) {
	tests := []struct {
		name, user, pass string
		found            bool
		wantOps          []ber.Tag
	}{
		{"wrong password", "alice", "wrong", true, []ber.Tag{opBindRequest, opSearchRequest, opBindRequest, opBindRequest}},
		{"unknown user", "nobody", "wrong", false, []ber.Tag{opBindRequest, opSearchRequest, opBindRequest, opBindRequest}},
		{"empty password", "alice", "", true, nil},
		{"NUL username", "al\x00ice", "pw", true, nil},
		{"long username", strings.Repeat("x", 300), "pw", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeServer{handle: func(id int64, op ber.Tag, req *ber.Packet) []*ber.Packet {
				switch op {
				case opBindRequest:
					if len(req.Children) > 1 && req.Children[1].Data.String() == "cn=reader,dc=example,dc=org" { // the service bind
						return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 0, ""))}
					}
					return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 49, ""))}
				case opSearchRequest:
					out := []*ber.Packet{}
					if tc.found {
						e := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "entry")
						e.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=alice,dc=example,dc=org", "dn"))
						e.AppendChild(ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attrs"))
						out = append(out, envelope(id, e))
					}
					return append(out, envelope(id, ldapResult(opSearchResultDone, 0, "")))
				}
				return nil
			}}
			c, _ := newClient(t, faultConfig(startFake(t, f)))
			_, err := c.Authenticate(context.Background(), tc.user, tc.pass)
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("err = %v", err)
			}
			f.mu.Lock()
			got := append([]ber.Tag(nil), f.ops...)
			f.mu.Unlock()
			if len(got) != len(tc.wantOps) {
				t.Fatalf("ops = %v, want %v", got, tc.wantOps)
			}
			for i := range got {
				if got[i] != tc.wantOps[i] {
					t.Fatalf("ops = %v, want %v", got, tc.wantOps)
				}
			}
		})
	}
}

// Hanging servers must not leak goroutines or connections once the client
// is closed.
func TestNoGoroutineLeakOnHang(t *testing.T) {
	f := &fakeServer{handle: func(id int64, op ber.Tag, _ *ber.Packet) []*ber.Packet { return nil }}
	url := startFake(t, f)
	before := runtime.NumGoroutine()
	cfg := faultConfig(url)
	cfg.RequestTimeout = 200 * time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Authenticate(context.Background(), "alice", "pw"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v", err)
			}
		}()
	}
	wg.Wait()
	_ = c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("goroutines: %d before, %d after", before, n)
	}
}
