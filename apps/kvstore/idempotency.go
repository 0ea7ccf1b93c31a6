package kvstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Writes with an IdempotencyKey (the Idempotency-Key header of the HTTP
// API) go through raft-core's client sessions: a write applies at most once
// per key, and a retry of it, through any node, gets the first apply's
// result (Result.Duplicate set), while the key is remembered: 24 hours of
// log time after it applied and while fewer than 100,000 keys applied after
// it (raftcore.SessionConfig's defaults). A retry after that applies again.
//
// The remembered results travel in snapshots: format 2 is a magic line,
// then the session state and the keys as format 1 wrote them. Format 1
// snapshots (no session state) are still read.

// IdempotencyKeyHeader names the request header that carries a write's
// idempotency key.
const IdempotencyKeyHeader = "Idempotency-Key"

// MaxIdempotencyKey is the longest idempotency key accepted.
const MaxIdempotencyKey = 256

var snapshotMagicV2 = []byte("kvstore-snapshot-2\n")

// Apply implements raftcore.StateMachine. index becomes the version of the
// key a put writes.
func (m *Machine) Apply(index uint64, c Command) Result {
	sc := raftcore.SessionCommand[Command]{Op: raftcore.SessionNone, Time: c.Time, Cmd: c}
	if c.IdempotencyKey != "" {
		sc.Op, sc.Key = raftcore.SessionKeyed, c.IdempotencyKey
	}
	res := m.keyed().Apply(index, sc)
	out := res.Value
	out.Duplicate = res.Duplicate
	return out
}

// Snapshot implements raftcore.StateMachine: format 2, equal states giving
// equal bytes.
func (m *Machine) Snapshot(w io.Writer) error {
	if _, err := w.Write(snapshotMagicV2); err != nil {
		return fmt.Errorf("kvstore: write snapshot: %w", err)
	}
	return m.keyed().Snapshot(w)
}

// Restore implements raftcore.StateMachine; it reads formats 1 and 2. It
// returns an error wrapping ErrMalformed, and leaves the Machine unchanged,
// for bytes Snapshot did not write.
func (m *Machine) Restore(r io.Reader) error {
	magic := make([]byte, len(snapshotMagicV2))
	n, err := io.ReadFull(r, magic)
	switch {
	case err == nil && string(magic) == string(snapshotMagicV2):
		restored := newSessions(m)
		if err := restored.Restore(r); err != nil {
			if !errors.Is(err, ErrMalformed) {
				err = fmt.Errorf("%w: snapshot: %w", ErrMalformed, err)
			}
			return err
		}
		m.sessions = restored
		return nil
	case string(magic[:n]) == string(snapshotMagic[:min(n, len(snapshotMagic))]):
		if err := m.restoreKeys(io.MultiReader(bytes.NewReader(magic[:n]), r)); err != nil {
			return err
		}
		m.sessions = newSessions(m)
		return nil
	}
	return fmt.Errorf("%w: snapshot: bad header", ErrMalformed)
}

// keyed returns the sessions around the keys, made on first use.
func (m *Machine) keyed() *raftcore.Sessions[Command, Result] {
	if m.sessions == nil {
		m.sessions = newSessions(m)
	}
	return m.sessions
}

func newSessions(m *Machine) *raftcore.Sessions[Command, Result] {
	return raftcore.NewSessions[Command, Result](keysMachine{m}, resultCodec{}, raftcore.SessionConfig{})
}

// keysMachine is the Machine's keys as the state machine the sessions wrap.
type keysMachine struct{ m *Machine }

func (k keysMachine) Apply(index uint64, c Command) Result { return k.m.applyKeys(index, c) }
func (k keysMachine) Snapshot(w io.Writer) error           { return k.m.snapshotKeys(w) }
func (k keysMachine) Restore(r io.Reader) error            { return k.m.restoreKeys(r) }

// resultCodec encodes the remembered results: a flags byte (Applied,
// Existed), then Index and PrevVersion as uvarints.
type resultCodec struct{}

func (resultCodec) Encode(r Result) ([]byte, error) {
	var flags byte
	if r.Applied {
		flags |= 1
	}
	if r.Existed {
		flags |= 2
	}
	b := binary.AppendUvarint([]byte{flags}, r.Index)
	return binary.AppendUvarint(b, r.PrevVersion), nil
}

func (resultCodec) Decode(data []byte) (Result, error) {
	if len(data) < 3 || data[0] > 3 {
		return Result{}, fmt.Errorf("%w: remembered result", ErrMalformed)
	}
	r := Result{Applied: data[0]&1 != 0, Existed: data[0]&2 != 0}
	rest := data[1:]
	index, n := binary.Uvarint(rest)
	if n <= 0 {
		return Result{}, fmt.Errorf("%w: remembered result index", ErrMalformed)
	}
	rest = rest[n:]
	prev, n := binary.Uvarint(rest)
	if n <= 0 || n != len(rest) {
		return Result{}, fmt.Errorf("%w: remembered result version", ErrMalformed)
	}
	r.Index, r.PrevVersion = index, prev
	return r, nil
}

// idempotencyKey sets cmd's key from the request's Idempotency-Key header,
// if any, and stamps it with this node's clock; it answers 400 and returns
// false for a key too long.
func idempotencyKey(w http.ResponseWriter, r *http.Request, cmd *Command) bool {
	key := r.Header.Get(IdempotencyKeyHeader)
	if key == "" {
		return true
	}
	if len(key) > MaxIdempotencyKey {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("%s longer than %d bytes", IdempotencyKeyHeader, MaxIdempotencyKey))
		return false
	}
	cmd.IdempotencyKey, cmd.Time = key, time.Now().UnixNano()
	return true
}

// writeRounds bounds how many times a write goes through the endpoints.
const writeRounds = 5

// write sends a write with its idempotency key (a new one if key is empty)
// to the endpoints in turn, again after a connection error, 503 or 504,
// for writeRounds rounds or until ctx is done.
func (c *Client) write(ctx context.Context, method, path string, q url.Values, body []byte, key string, out any) error {
	if key == "" {
		key = newIdempotencyKey()
	}
	var lastErr error
	for round := range writeRounds {
		if round > 0 {
			t := time.NewTimer(time.Duration(round) * 50 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return lastErr
			case <-t.C:
			}
		}
		for _, ep := range c.endpoints {
			u := ep + path
			if len(q) > 0 {
				u += "?" + q.Encode()
			}
			_, err := c.once(ctx, method, u, body, key, out)
			if err == nil {
				return nil
			}
			lastErr = err
			if ctx.Err() != nil {
				return err
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable && apiErr.Status != http.StatusGatewayTimeout {
				return err
			}
		}
	}
	return lastErr
}

// newIdempotencyKey returns 32 random hex digits.
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's contract since Go 1.24)
	return hex.EncodeToString(b[:])
}
