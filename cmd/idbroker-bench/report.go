package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the whole output.
type report struct {
	Date        string   `json:"date"`
	Commit      string   `json:"commit"`
	CPUModel    string   `json:"cpu_model"`
	Cores       int      `json:"cores"`
	GoVersion   string   `json:"go_version"`
	LoadStart   string   `json:"loadavg_start"`
	LoadEnd     string   `json:"loadavg_end"`
	Note        string   `json:"note,omitempty"`
	ServerEnv   []string `json:"server_env,omitempty"`
	DurationSec float64  `json:"duration_sec"`
	// Ops: the servers ran with rate limits and a metrics listener.
	Ops bool `json:"ops"`
	// Replicas servers of one configuration; Store is their state store.
	Replicas     int    `json:"replicas"`
	Store        string `json:"store"`
	FloorSkipped string `json:"floor_skipped,omitempty"`
	Rows         []row  `json:"rows"`
}

// metricsFigures are the servers' own counters over one run (ops runs):
// credentials the STS minted, and issuances a rate limit refused.
type metricsFigures struct {
	Issued    float64 `json:"sts_credentials_issued"`
	Throttles float64 `json:"throttles"`
}

// row is one flow x target x concurrency.
type row struct {
	Flow    string `json:"flow"`
	Target  string `json:"target"` // idbroker | floor
	Conns   int    `json:"conns"`
	Skipped string `json:"skipped,omitempty"`
	loadResult
	// PeakRSSMiB and ServerCPUus are sums over the replicas (per request:
	// the deployment's CPU per request); the per-replica peaks follow.
	PeakRSSMiB           float64   `json:"peak_rss_mib,omitempty"`
	PeakRSSPerReplicaMiB []float64 `json:"peak_rss_per_replica_mib,omitempty"`
	RSSStartMiB          float64   `json:"rss_start_mib,omitempty"`
	RSSEndMiB            float64   `json:"rss_end_mib,omitempty"`
	ServerCPUus          float64   `json:"server_cpu_us_per_req,omitempty"`
	DriverCPUus          float64   `json:"driver_cpu_us_per_req,omitempty"`
	// RedisCPUus is the CPU of the redis-server the replicas share.
	RedisCPUus      float64         `json:"redis_cpu_us_per_req,omitempty"`
	DiskBytesPerReq float64         `json:"disk_write_bytes_per_req"`
	WriteBytesPerOK float64         `json:"write_bytes_per_req"` // wchar: logs to a pipe included
	FloorFraction   float64         `json:"floor_fraction,omitempty"`
	P99VsFloor      float64         `json:"p99_vs_floor,omitempty"`
	Metrics         *metricsFigures `json:"metrics,omitempty"`
}

func printTable(w io.Writer, rep *report) {
	fmt.Fprintf(w, "# %s  commit %s  %s x%d  %s  load %s -> %s\n", rep.Date, rep.Commit, rep.CPUModel, rep.Cores, rep.GoVersion, rep.LoadStart, rep.LoadEnd)
	if rep.Note != "" {
		fmt.Fprintf(w, "# note: %s\n", rep.Note)
	}
	if len(rep.ServerEnv) > 0 {
		fmt.Fprintf(w, "# server environment: %s\n", strings.Join(rep.ServerEnv, " "))
	}
	if rep.Ops {
		fmt.Fprintln(w, "# ops on: rate limits per_user, per_role, per_source (1000000/1s each, checked on every issuance) and a metrics listener")
	} else {
		fmt.Fprintln(w, "# ops off: no rate limits, no metrics listener")
	}
	if rep.Replicas > 1 {
		fmt.Fprintf(w, "# %d replicas on one %s store and one key directory; connection i -> replica i mod %d; peak RSS and srv CPU are sums over the replicas\n", rep.Replicas, rep.Store, rep.Replicas)
	}
	if rep.FloorSkipped != "" {
		fmt.Fprintf(w, "# floor: %s\n", rep.FloorSkipped)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "flow\ttarget\tconns\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\tpeak RSS MiB\tRSS start->end\tsrv CPU us/req\tdisk B/req\tof floor\tp99/floor\t")
	var skipped, counters []string
	for _, r := range rep.Rows {
		if r.Metrics != nil {
			counters = append(counters, fmt.Sprintf("server metrics: %s (%d conns): %.0f credentials issued, %.0f throttled", r.Flow, r.Conns, r.Metrics.Issued, r.Metrics.Throttles))
		}
		if r.RedisCPUus > 0 {
			counters = append(counters, fmt.Sprintf("redis: %s (%d conns): redis-server CPU %.0f us/req (not in srv CPU)", r.Flow, r.Conns, r.RedisCPUus))
		}
		if r.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("%s (%s, %d conns): %s", r.Flow, r.Target, r.Conns, r.Skipped))
			continue
		}
		frac, p99 := "", ""
		if r.FloorFraction > 0 {
			frac, p99 = fmt.Sprintf("%.2f", r.FloorFraction), fmt.Sprintf("%.2f", r.P99VsFloor)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%.1f\t%.1f->%.1f\t%.0f\t%.1f\t%s\t%s\t\n",
			r.Flow, r.Target, r.Conns, r.ReqPerSec, r.P50ms, r.P90ms, r.P99ms, r.MaxMs, formatErrors(r.Errors),
			r.PeakRSSMiB, r.RSSStartMiB, r.RSSEndMiB, r.ServerCPUus, r.DiskBytesPerReq, frac, p99)
	}
	_ = tw.Flush()
	for _, s := range counters {
		fmt.Fprintln(w, s)
	}
	for _, s := range skipped {
		fmt.Fprintln(w, "skipped:", s)
	}
}

func formatErrors(m map[string]uint64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	return strings.Join(parts, ",")
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func gitCommit() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
