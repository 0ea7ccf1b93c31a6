package harness

import (
	"fmt"
	"slices"
	"time"
)

// HeadlineClients is the client count of the scaling curves and the
// headline ratio.
const HeadlineClients = 64

// IsHeadline reports whether s is one of the durable trio the targets compare.
func IsHeadline(s System) bool {
	return slices.Contains([]string{HeadlineJangada, HeadlineHashicorp, HeadlineEtcd}, s.Name)
}

// TargetClients are the client counts the targets compare.
var TargetClients = []int{1, 64, 256}

// FormatDuration prints d for progress lines and reports: "-" for none,
// then µs, ms or s.
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// FormatBytes prints b in B, KiB, MiB or GiB.
func FormatBytes(b int64) string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", b>>30)
	case b >= 1<<20:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 1<<10:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}
