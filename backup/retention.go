package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Retention says which backups Prune keeps; the zero value keeps all. A
// backup is kept when any rule keeps it, and the newest is always kept.
type Retention struct {
	// KeepLast keeps the newest KeepLast backups.
	KeepLast int
	// KeepDaily keeps the newest backup of each of the KeepDaily most
	// recent days (UTC) that have one.
	KeepDaily int
	// KeepWeekly keeps the newest backup of each of the KeepWeekly most
	// recent ISO weeks that have one.
	KeepWeekly int
}

// IsZero reports whether r keeps every backup.
func (r Retention) IsZero() bool { return r == Retention{} }

// String returns r in the form ParseRetention reads.
func (r Retention) String() string {
	return fmt.Sprintf("last=%d,daily=%d,weekly=%d", r.KeepLast, r.KeepDaily, r.KeepWeekly)
}

// ParseRetention reads "N" (keep the last N) or a comma-separated list of
// last=N, daily=D, weekly=W. "" is the zero Retention (keep all).
func ParseRetention(s string) (Retention, error) {
	var r Retention
	s = strings.TrimSpace(s)
	if s == "" {
		return r, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return r, fmt.Errorf("%w: retention %q: keep at least 1", ErrInvalid, s)
		}
		return Retention{KeepLast: n}, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(val)
		if !ok || err != nil || n < 0 {
			return Retention{}, fmt.Errorf("%w: retention %q: want N or last=N,daily=D,weekly=W", ErrInvalid, s)
		}
		switch key {
		case "last":
			r.KeepLast = n
		case "daily":
			r.KeepDaily = n
		case "weekly":
			r.KeepWeekly = n
		default:
			return Retention{}, fmt.Errorf("%w: retention %q: unknown rule %q (last, daily, weekly)", ErrInvalid, s, key)
		}
	}
	return r, nil
}

// Select splits backups (in any order) into those r keeps and those it
// drops, each newest first.
func (r Retention) Select(backups []Manifest) (keep, drop []Manifest) {
	sorted := slices.Clone(backups)
	slices.SortStableFunc(sorted, func(a, b Manifest) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if r.IsZero() {
		return sorted, nil
	}
	days, weeks := map[string]bool{}, map[string]bool{}
	for i, m := range sorted {
		t := m.CreatedAt.UTC()
		day := t.Format("2006-01-02")
		year, week := t.ISOWeek()
		weekKey := fmt.Sprintf("%d-W%02d", year, week)
		kept := i == 0 || i < r.KeepLast
		if !days[day] && len(days) < r.KeepDaily {
			days[day] = true
			kept = true
		}
		if !weeks[weekKey] && len(weeks) < r.KeepWeekly {
			weeks[weekKey] = true
			kept = true
		}
		if kept {
			keep = append(keep, m)
		} else {
			drop = append(drop, m)
		}
	}
	return keep, drop
}

// Prune deletes the complete backups in target that r does not keep and
// returns their names. The zero Retention deletes nothing.
func Prune(ctx context.Context, target Target, r Retention) ([]string, error) {
	if r.IsZero() {
		return nil, nil
	}
	all, listErr := List(ctx, target)
	if listErr != nil && len(all) == 0 {
		return nil, listErr
	}
	_, drop := r.Select(all)
	var deleted []string
	var errs []error
	for _, m := range drop {
		if err := target.Delete(ctx, m.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, m.Name)
	}
	return deleted, errors.Join(append(errs, listErr)...)
}
