package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// maxTraceText bounds the readable trace kept in memory; the hash always
// covers the whole run.
const maxTraceText = 64 << 20

// tracer records the run's events: every one goes into a hash (the run's
// fingerprint, compared across runs of one seed), and, when verbose, into a
// readable text trace written out when a check fails.
type tracer struct {
	now     func() time.Duration
	h       hash.Hash
	buf     []byte
	text    *strings.Builder
	dropped bool
}

func newTracer(now func() time.Duration, verbose bool) *tracer {
	t := &tracer{now: now, h: sha256.New()}
	if verbose {
		t.text = &strings.Builder{}
	}
	return t
}

// record hashes one event: its kind, the virtual time and its fields.
func (t *tracer) record(kind string, fields ...uint64) {
	b := append(t.buf[:0], kind...)
	b = binary.AppendUvarint(b, uint64(t.now()))
	for _, f := range fields {
		b = binary.AppendUvarint(b, f)
	}
	t.buf = b
	t.h.Write(b)
}

// recordString hashes a string field of the last event.
func (t *tracer) recordString(s string) { t.h.Write([]byte(s)) }

// verbose reports whether readable lines are kept; callers check it before
// formatting a line.
func (t *tracer) verbose() bool { return t.text != nil }

// logf appends a readable line, stamped with the virtual time.
func (t *tracer) logf(format string, args ...any) {
	if t.text == nil {
		return
	}
	if t.text.Len() > maxTraceText {
		if !t.dropped {
			t.text.WriteString("... trace truncated\n")
			t.dropped = true
		}
		return
	}
	fmt.Fprintf(t.text, "%12.6fs ", t.now().Seconds())
	fmt.Fprintf(t.text, format, args...)
	t.text.WriteByte('\n')
}

// sum returns the hex hash of the events so far.
func (t *tracer) sum() string { return hex.EncodeToString(t.h.Sum(nil)[:8]) }

// logHandler writes a node's engine and raft logs into the readable trace.
type logHandler struct {
	t     *tracer
	node  uint64
	attrs []slog.Attr
}

func (h logHandler) Enabled(context.Context, slog.Level) bool { return h.t.verbose() }

func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.t.logf("log  %d %s: %s%s", h.node, r.Level, r.Message, b.String())
	return nil
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.attrs = append(slices.Clip(h.attrs), attrs...)
	return h
}

func (h logHandler) WithGroup(string) slog.Handler { return h }
