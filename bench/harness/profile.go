package harness

import (
	"cmp"
	"fmt"
	"io"
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

func TopArea(s ProfileSummary) string {
	if len(s.ByArea) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%.0f%%)", s.ByArea[0].Function, s.ByArea[0].Flat*100)
}
