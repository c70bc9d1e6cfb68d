package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// genFunc appends one complete HTTP/1.1 request to buf and returns it. Each
// connection owns its generator (no locking): seq counts its requests. A nil
// result ends the connection's loop (a pool of single-use requests is used up).
type genFunc func(buf []byte, seq int) []byte

// checkFunc classifies a response: "" for success, otherwise the error
// label it is counted under (an AWS/API error code when the body has one).
type checkFunc func(status int, body []byte) string

// loadSpec is one run: C connections against addr for a bounded time and
// a bounded number of requests.
type loadSpec struct {
	Addr string
	// Dial, when set, are the addresses connections open instead of Addr:
	// connection i dials Dial[i mod len(Dial)] (replicas, round robin).
	Dial     []string
	Conns    int
	Warmup   time.Duration // requests before this are sent but not recorded
	Duration time.Duration // measured interval after the warm-up
	// MaxRequests bounds the requests of one connection (0 = 10 million).
	MaxRequests int
	// NewGen returns the request generator of connection i.
	NewGen func(i int) genFunc
	Check  checkFunc
}

// loadResult is what one run measured (driver side).
type loadResult struct {
	Requests uint64 `json:"requests"`
	// WarmupRequests were sent before the measured interval (not in the
	// figures; counted so per-request server CPU can include them).
	WarmupRequests uint64            `json:"warmup_requests"`
	OK             uint64            `json:"ok"`
	Errors         map[string]uint64 `json:"errors"`
	Elapsed        time.Duration     `json:"-"`
	ReqPerSec      float64           `json:"req_per_sec"`
	P50            time.Duration     `json:"-"`
	P90            time.Duration     `json:"-"`
	P99            time.Duration     `json:"-"`
	Max            time.Duration     `json:"-"`
	P50ms          float64           `json:"p50_ms"`
	P90ms          float64           `json:"p90_ms"`
	P99ms          float64           `json:"p99_ms"`
	MaxMs          float64           `json:"max_ms"`
	// OKPerReplica counts the successes of each Dial address (replicas).
	OKPerReplica []uint64 `json:"ok_per_replica,omitempty"`
}

// maxSamplesPerConn bounds the latency samples one connection keeps; at
// the rates this driver reaches on loopback it is never reached in 10 s.
const maxSamplesPerConn = 1 << 20

type connStats struct {
	requests, ok uint64
	warm         uint64
	errors       map[string]uint64
	lat          []time.Duration
}

// runLoad drives spec and returns its figures. Every loop is bounded by the
// deadline and by MaxRequests.
func runLoad(spec loadSpec) loadResult {
	maxReq := spec.MaxRequests
	if maxReq <= 0 {
		maxReq = 10_000_000
	}
	start := time.Now()
	measureFrom := start.Add(spec.Warmup)
	deadline := measureFrom.Add(spec.Duration)
	stats := make([]*connStats, spec.Conns)
	var wg sync.WaitGroup
	for i := range spec.Conns {
		st := &connStats{errors: map[string]uint64{}}
		stats[i] = st
		gen := spec.NewGen(i)
		addr := spec.Addr
		if len(spec.Dial) > 0 {
			addr = spec.Dial[i%len(spec.Dial)]
		}
		wg.Go(func() { drive(addr, gen, spec.Check, st, maxReq, measureFrom, deadline) })
	}
	wg.Wait()
	end := time.Now()
	if end.After(deadline) {
		end = deadline
	}
	res := loadResult{Errors: map[string]uint64{}}
	if len(spec.Dial) > 1 {
		res.OKPerReplica = make([]uint64, len(spec.Dial))
	}
	var all []time.Duration
	for i, st := range stats {
		if res.OKPerReplica != nil {
			res.OKPerReplica[i%len(spec.Dial)] += st.ok
		}
		res.Requests += st.requests
		res.WarmupRequests += st.warm
		res.OK += st.ok
		for k, v := range st.errors {
			res.Errors[k] += v
		}
		all = append(all, st.lat...)
	}
	res.Elapsed = end.Sub(measureFrom)
	if res.Elapsed > 0 {
		res.ReqPerSec = float64(res.OK) / res.Elapsed.Seconds()
	}
	slices.Sort(all)
	res.P50, res.P90, res.P99 = percentile(all, 0.50), percentile(all, 0.90), percentile(all, 0.99)
	if len(all) > 0 {
		res.Max = all[len(all)-1]
	}
	res.P50ms, res.P90ms, res.P99ms, res.MaxMs = ms(res.P50), ms(res.P90), ms(res.P99), ms(res.Max)
	return res
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile returns the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// drive is one connection's loop: send, read the whole response, record.
// A broken connection is counted and redialled (at most once per request).
func drive(addr string, gen genFunc, check checkFunc, st *connStats, maxReq int, measureFrom, deadline time.Time) {
	var (
		conn net.Conn
		br   *bufio.Reader
		req  []byte
		body []byte
	)
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for seq := 0; seq < maxReq; seq++ {
		now := time.Now()
		if !now.Before(deadline) {
			return
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				if !now.Before(measureFrom) {
					st.requests++
					st.errors["dial"]++
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 16<<10)
		}
		// Bound every exchange: a hung server cannot hold the run.
		_ = conn.SetDeadline(deadline.Add(10 * time.Second))
		req = gen(req[:0], seq)
		if req == nil {
			return // the generator has nothing more to send
		}
		t0 := time.Now()
		var (
			status  int
			closing bool
			err     error
		)
		if _, err = conn.Write(req); err == nil {
			status, body, closing, err = readResponse(br, body[:0])
		}
		lat := time.Since(t0)
		if t0.Before(measureFrom) {
			st.warm++
			if err != nil || closing {
				_ = conn.Close()
				conn = nil
			}
			continue
		}
		st.requests++
		switch {
		case err != nil:
			st.errors[connErrLabel(err)]++
		default:
			if label := check(status, body); label != "" {
				st.errors[label]++
			} else {
				st.ok++
				if len(st.lat) < maxSamplesPerConn {
					st.lat = append(st.lat, lat)
				}
			}
		}
		if err != nil || closing {
			_ = conn.Close()
			conn = nil
		}
	}
}

func connErrLabel(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "conn-timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "conn-closed"
	default:
		return "conn-error"
	}
}

// maxResponseBody bounds what the driver reads of one response.
const maxResponseBody = 1 << 20

var errMalformed = errors.New("malformed HTTP response")

// readResponse reads one HTTP/1.1 response (Content-Length or chunked
// body) and appends the body to buf.
func readResponse(br *bufio.Reader, buf []byte) (status int, body []byte, closing bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, buf, true, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, buf, true, errMalformed
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, buf, true, errMalformed
	}
	length, chunked := -1, false
	for headers := 0; ; headers++ {
		if headers > 200 {
			return status, buf, true, errMalformed
		}
		line, err = br.ReadSlice('\n')
		if err != nil {
			return status, buf, true, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, buf, true, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || n > maxResponseBody {
				return status, buf, true, errMalformed
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		buf, err = readChunked(br, buf)
		return status, buf, closing, err
	case length >= 0:
		n := len(buf)
		buf = slices.Grow(buf, length)[:n+length]
		_, err = io.ReadFull(br, buf[n:])
		return status, buf, closing, err
	default:
		// Body delimited by close: not something our servers send.
		return status, buf, true, fmt.Errorf("%w: no Content-Length", errMalformed)
	}
}

func readChunked(br *bufio.Reader, buf []byte) ([]byte, error) {
	for chunks := 0; chunks < 10_000; chunks++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return buf, err
		}
		sizeField, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		size, err := strconv.ParseUint(string(bytes.TrimSpace(sizeField)), 16, 32)
		if err != nil || len(buf)+int(size) > maxResponseBody {
			return buf, errMalformed
		}
		if size == 0 {
			// Trailers (none expected) end with an empty line.
			for trailers := 0; trailers < 100; trailers++ {
				line, err = br.ReadSlice('\n')
				if err != nil {
					return buf, err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return buf, nil
				}
			}
			return buf, errMalformed
		}
		n := len(buf)
		buf = slices.Grow(buf, int(size))[:n+int(size)]
		if _, err := io.ReadFull(br, buf[n:]); err != nil {
			return buf, err
		}
		if _, err := br.Discard(2); err != nil {
			return buf, err
		}
	}
	return buf, errMalformed
}

// errorCode finds the error code in an STS XML error (<Code>X</Code>) or
// the broker's JSON error ("code":"X"); "HTTP-<status>" otherwise.
func errorCode(status int, body []byte) string {
	if _, rest, ok := bytes.Cut(body, []byte("<Code>")); ok {
		if code, _, ok := bytes.Cut(rest, []byte("</Code>")); ok && len(code) < 100 {
			return string(code)
		}
	}
	if _, rest, ok := bytes.Cut(body, []byte(`"code":"`)); ok {
		if code, _, ok := bytes.Cut(rest, []byte(`"`)); ok && len(code) < 100 {
			return string(code)
		}
	}
	return "HTTP-" + strconv.Itoa(status)
}

// okWhen returns a checkFunc that accepts status 200 with marker in the body.
func okWhen(marker string) checkFunc {
	m := []byte(marker)
	return func(status int, body []byte) string {
		if status == 200 && bytes.Contains(body, m) {
			return ""
		}
		if status == 200 {
			return "200-without-" + marker
		}
		return errorCode(status, body)
	}
}
