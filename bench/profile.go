package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// ProfileEntry is one function's share of a CPU profile.
type ProfileEntry struct {
	Function string
	// Flat is the share of samples in the function itself, Cum the share of
	// samples with the function anywhere on the stack.
	Flat, Cum float64
}

// ProfileSummary names the top costs of one profiled scenario.
type ProfileSummary struct {
	Scenario string
	File     string
	TopFlat  []ProfileEntry
	TopCum   []ProfileEntry
	// ByArea groups flat samples by area (syscalls, GC, TLS/QUIC, pebble,
	// raft, runtime scheduling...), in shares of the total.
	ByArea []ProfileEntry
}

// SummarizeProfile reads a pprof CPU profile and returns its top n
// functions by flat and by cumulative samples.
func SummarizeProfile(r io.Reader, n int) (ProfileSummary, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return ProfileSummary{}, fmt.Errorf("bench: parse profile: %w", err)
	}
	valueIndex := len(p.SampleType) - 1
	flat, cum := map[string]int64{}, map[string]int64{}
	areas := map[string]float64{}
	areaCost := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[valueIndex]
		total += v
		seen := map[string]bool{}
		var stack []string
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				name := line.Function.Name
				if len(stack) == 0 {
					flat[name] += v
				}
				stack = append(stack, name)
				if !seen[name] {
					seen[name] = true
					cum[name] += v
				}
			}
		}
		if len(stack) > 0 {
			areaCost[areaOf(stack)] += v
		}
	}
	if total == 0 {
		return ProfileSummary{}, fmt.Errorf("bench: profile has no samples")
	}
	top := func(m map[string]int64) []ProfileEntry {
		var out []ProfileEntry
		for name := range m {
			out = append(out, ProfileEntry{Function: name, Flat: float64(flat[name]) / float64(total), Cum: float64(cum[name]) / float64(total)})
		}
		return out
	}
	byFlat := top(flat)
	slices.SortFunc(byFlat, func(a, b ProfileEntry) int {
		return cmp.Or(cmp.Compare(b.Flat, a.Flat), strings.Compare(a.Function, b.Function))
	})
	byCum := top(cum)
	slices.SortFunc(byCum, func(a, b ProfileEntry) int {
		return cmp.Or(cmp.Compare(b.Cum, a.Cum), strings.Compare(a.Function, b.Function))
	})
	for a, v := range areaCost {
		areas[a] = float64(v) / float64(total)
	}
	var byArea []ProfileEntry
	for a, share := range areas {
		byArea = append(byArea, ProfileEntry{Function: a, Flat: share})
	}
	slices.SortFunc(byArea, func(a, b ProfileEntry) int {
		return cmp.Or(cmp.Compare(b.Flat, a.Flat), strings.Compare(a.Function, b.Function))
	})
	return ProfileSummary{TopFlat: byFlat[:min(n, len(byFlat))], TopCum: byCum[:min(n, len(byCum))], ByArea: byArea}, nil
}

// areaOf classifies a sample by where its cost comes from: its leaf
// function, and for system calls what made them.
func areaOf(stack []string) string {
	a := area(stack[0])
	if a != areaSyscalls {
		return a
	}
	for _, fn := range stack {
		switch {
		case strings.Contains(fn, "Fdatasync"), strings.Contains(fn, "Fsync"), strings.HasSuffix(fn, ".Sync"), strings.HasSuffix(fn, ".SyncData"):
			return "fsync (disk)"
		case strings.HasPrefix(fn, "github.com/quic-go/"), strings.HasPrefix(fn, "net."), strings.HasPrefix(fn, "internal/poll."):
			return "network system calls (UDP/TCP)"
		}
	}
	return "other system calls (disk writes, timers)"
}

const areaSyscalls = "system calls"

// area classifies a function by where its cost comes from.
func area(fn string) string {
	switch {
	case strings.HasPrefix(fn, "runtime.memmove"):
		return "memory copies"
	case strings.HasPrefix(fn, "runtime.nextFree"), strings.HasPrefix(fn, "runtime.(*spanSet)"),
		strings.HasPrefix(fn, "runtime.madvise"), strings.HasPrefix(fn, "runtime.sysUnused"),
		strings.HasPrefix(fn, "runtime.heapBits"), strings.HasPrefix(fn, "runtime.typePointers"):
		return "memory allocation and GC"
	case strings.HasPrefix(fn, "runtime.gc"), strings.HasPrefix(fn, "runtime.scanobject"),
		strings.HasPrefix(fn, "runtime.mark"), strings.HasPrefix(fn, "runtime.greyobject"),
		strings.HasPrefix(fn, "runtime.findObject"), strings.HasPrefix(fn, "runtime.(*mspan)"),
		strings.HasPrefix(fn, "runtime.(*gcWork)"), strings.HasPrefix(fn, "runtime.wbBuf"),
		strings.HasPrefix(fn, "runtime.bulkBarrier"), strings.HasPrefix(fn, "runtime.mallocgc"),
		strings.HasPrefix(fn, "runtime.memclr"), strings.HasPrefix(fn, "runtime.(*mheap)"),
		strings.HasPrefix(fn, "runtime.(*mcache)"), strings.HasPrefix(fn, "runtime.(*mcentral)"):
		return "memory allocation and GC"
	case strings.HasPrefix(fn, "syscall."), strings.HasPrefix(fn, "internal/runtime/syscall"),
		strings.HasPrefix(fn, "golang.org/x/sys/unix"), strings.HasPrefix(fn, "runtime/internal/syscall"):
		return areaSyscalls
	case strings.HasPrefix(fn, "runtime.futex"), strings.HasPrefix(fn, "runtime.schedule"),
		strings.HasPrefix(fn, "runtime.findRunnable"), strings.HasPrefix(fn, "runtime.park"),
		strings.HasPrefix(fn, "runtime.netpoll"), strings.HasPrefix(fn, "runtime.runqgrab"),
		strings.HasPrefix(fn, "runtime.stealWork"), strings.HasPrefix(fn, "runtime.ready"),
		strings.HasPrefix(fn, "runtime.lock"), strings.HasPrefix(fn, "runtime.unlock"),
		strings.HasPrefix(fn, "runtime.nanotime"), strings.HasPrefix(fn, "runtime.usleep"),
		strings.HasPrefix(fn, "runtime.osyield"), strings.HasPrefix(fn, "runtime.chan"),
		strings.HasPrefix(fn, "runtime.selectgo"), strings.HasPrefix(fn, "runtime.send"),
		strings.HasPrefix(fn, "runtime.recv"), strings.HasPrefix(fn, "runtime.goready"),
		strings.HasPrefix(fn, "runtime.casgstatus"), strings.HasPrefix(fn, "runtime.mcall"),
		strings.HasPrefix(fn, "runtime.gopark"), strings.HasPrefix(fn, "runtime.wakep"):
		return "scheduling, channels and locks"
	case strings.HasPrefix(fn, "crypto/"), strings.HasPrefix(fn, "vendor/golang.org/x/crypto"),
		strings.HasPrefix(fn, "golang.org/x/crypto"):
		return "encryption (TLS 1.3 packet protection)"
	case strings.HasPrefix(fn, "github.com/quic-go/"):
		return "QUIC stack (quic-go)"
	case strings.HasPrefix(fn, "github.com/cockroachdb/"):
		return "pebble"
	case strings.HasPrefix(fn, "github.com/dgraph-io/"):
		return "badger"
	case strings.HasPrefix(fn, "go.etcd.io/raft"):
		return "etcd raft state machine"
	case strings.HasPrefix(fn, "google.golang.org/protobuf"):
		return "protobuf encoding"
	case strings.HasPrefix(fn, "github.com/jangada-io/jangada/"):
		return "jangada engine, transport and stores"
	case strings.HasPrefix(fn, "hash/crc32"), strings.HasPrefix(fn, "github.com/klauspost/"):
		return "checksums and compression"
	case strings.HasPrefix(fn, "runtime."), strings.HasPrefix(fn, "internal/"), strings.HasPrefix(fn, "sync"):
		return "other runtime"
	}
	return "other"
}

// profileClients are the client counts profiled: the headline and the
// highest concurrency.
var profileClients = []int{headlineClients, 256}

// runProfile runs the headline jangada write scenario under the CPU
// profiler, once per client count, and summarizes where the time goes.
func (r *Runner) runProfile(ctx context.Context) {
	sys := jangadaSystem("quic", "pebble")
	j := job{kind: jobProfile, system: sys, spec: ClusterSpec{Nodes: 3}}
	c, stop, err := r.startCluster(ctx, j)
	if err != nil {
		r.progress("profile: start failed: %v", err)
		return
	}
	defer stop()
	for _, clients := range profileClients {
		sum, err := r.profileWrites(ctx, c, clients)
		if err != nil {
			r.progress("profile %d clients: %v", clients, err)
			continue
		}
		sum.Scenario = fmt.Sprintf("%s write, 3 nodes, 64 B, %d clients (%s)", sys.Name, clients, sum.Scenario)
		r.report.Profiles = append(r.report.Profiles, sum)
		r.progress("profile %d clients: %s written; top area %s", clients, sum.File, topArea(sum))
	}
}

// profileWrites profiles three windows of writes from clients clients.
func (r *Runner) profileWrites(ctx context.Context, c Cluster, clients int) (ProfileSummary, error) {
	path := filepath.Join(r.cfg.OutDir, fmt.Sprintf("cpu-jangada-write-%dclients.pprof", clients))
	f, err := os.Create(path)
	if err != nil {
		return ProfileSummary{}, err
	}
	defer f.Close()
	cmd := make([]byte, 64)
	fillPayload(cmd)
	op := func(ctx context.Context) error { return c.Write(ctx, cmd) }
	// Warm up outside the profile.
	Drive(ctx, clients, Window{Duration: r.cfg.Warmup}, 64, op)
	if err := pprof.StartCPUProfile(f); err != nil {
		return ProfileSummary{}, err
	}
	// Three windows: enough samples on a loaded machine.
	m := Drive(ctx, clients, Window{Duration: 3 * r.cfg.Duration}, 64, op)
	pprof.StopCPUProfile()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ProfileSummary{}, err
	}
	sum, err := SummarizeProfile(f, 15)
	if err != nil {
		return ProfileSummary{}, err
	}
	sum.Scenario = fmt.Sprintf("%.0f ops/s while profiled", m.OpsPerSec)
	sum.File = filepath.Base(path)
	return sum, nil
}

func topArea(s ProfileSummary) string {
	if len(s.ByArea) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%.0f%%)", s.ByArea[0].Function, s.ByArea[0].Flat*100)
}
