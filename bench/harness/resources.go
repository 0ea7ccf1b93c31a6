package harness

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPUTime returns the user plus system CPU time this process has used.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ResetPeakRSS returns freed memory to the OS and resets the kernel's peak
// resident set size of this process, so that PeakRSS then reports the peak
// of what runs next. It reports whether the reset worked (Linux only).
func ResetPeakRSS() bool {
	runtime.GC()
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// PeakRSS returns the process's peak resident set size in bytes since start
// or the last ResetPeakRSS, or 0 when unknown.
func PeakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// LoadAverage returns the first line of /proc/loadavg, or "unknown".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// CPUSample is the machine-wide CPU time counters of /proc/stat's first
// line, in clock ticks.
type CPUSample struct {
	// Total is every state's ticks; Steal the ticks a hypervisor gave
	// other guests while this one wanted to run.
	Total, Steal uint64
	// MHz is the mean current frequency over the CPUs of /proc/cpuinfo, 0
	// when unknown.
	MHz float64
}

// SampleCPU reads the counters now; the zero sample when /proc is missing.
func SampleCPU() CPUSample {
	var s CPUSample
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		s.Total, s.Steal = parseProcStat(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		s.MHz = meanMHz(string(b))
	}
	return s
}

// parseProcStat returns the total and steal ticks of the "cpu" line.
func parseProcStat(stat string) (total, steal uint64) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 2 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0
		}
		// guest and guest_nice (9th, 10th) are already counted in user.
		if i < 8 {
			total += v
		}
		if i == 7 {
			steal = v
		}
	}
	return total, steal
}

func meanMHz(cpuinfo string) float64 {
	var sum float64
	n := 0
	for line := range strings.Lines(cpuinfo) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "cpu MHz" {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			sum += f
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// StealShare is the share of CPU time stolen between two samples, or -1
// when unknown.
func StealShare(before, after CPUSample) float64 {
	if after.Total <= before.Total {
		return -1
	}
	return float64(after.Steal-before.Steal) / float64(after.Total-before.Total)
}
