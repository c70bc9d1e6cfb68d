package revocation

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/idbroker/idbroker/internal/store"
)

// threadCPU is the CPU time the calling OS thread has used
// (CLOCK_THREAD_CPUTIME_ID): unlike wall time, it does not count the time
// other processes of a busy machine hold the CPU.
func threadCPU(tb testing.TB) time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		tb.Fatal(errno)
	}
	return time.Duration(ts.Nano())
}

// BenchmarkServeCallerIdentityOverhead serves GetCallerIdentity in
// alternating batches without a checker and with a Set of n entries, on
// one locked OS thread, and reports the CPU time of each per request and
// the Set's overhead in percent (so that a busy machine's noise neither
// favours one nor counts).
func BenchmarkServeCallerIdentityOverhead(b *testing.B) {
	const batch = 64
	for _, n := range sizes {
		b.Run(fmt.Sprintf("set=%d", n), func(b *testing.B) {
			none, with := newHotPath(b, nil), newHotPath(b, fill(b, store.NewMemory(nil), n))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var tNone, tWith time.Duration
			serve := func(h *hotPath) time.Duration {
				start := threadCPU(b)
				for range batch {
					w := httptest.NewRecorder()
					h.svc.ServeHTTP(w, h.request())
					if w.Code != http.StatusOK {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
				return threadCPU(b) - start
			}
			for b.Loop() {
				tNone += serve(none)
				tWith += serve(with)
			}
			ops := float64(b.N * batch)
			b.ReportMetric(float64(tNone.Nanoseconds())/ops, "cpu-ns/none")
			b.ReportMetric(float64(tWith.Nanoseconds())/ops, "cpu-ns/set")
			b.ReportMetric(100*(float64(tWith)-float64(tNone))/float64(tNone), "%overhead")
		})
	}
}
