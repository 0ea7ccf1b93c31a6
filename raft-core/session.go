package raftcore

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Client sessions give a client's commands exactly-once effect across
// retries: a client that does not learn the outcome of a command (a timeout,
// a broken connection, a node that died) sends it again, to any node, and
// the state machine applies it at most once and answers every copy with the
// result of that one apply.
//
// The engine's own de-duplication (dedup.go) only covers copies of one
// proposal made by one node: a client that retries on another node makes a
// new proposal, which the engine rightly applies. Sessions name a command by
// what the client chose instead: (session, sequence number) for a registered
// session, or an idempotency key.
//
// Sessions wraps the application's StateMachine; everything it decides comes
// from the log (and the snapshot), so every node decides alike. Its time is
// the log's: the largest SessionCommand.Time applied so far, stamped by the
// proposer. No node's local clock is read while applying.
//
// The guarantee, precisely:
//
//   - Registered sessions. SessionRegister returns a session id (the log
//     index of the registration). A command sent as (id, seq) is applied at
//     most once, however many copies reach the log, through any nodes, for
//     as long as the session lives; every copy after the first returns the
//     first apply's result (SessionResult.Duplicate set). A session lives
//     until SessionUnregister, until no command of it applied for
//     SessionConfig.SessionTTL of log time, or until it is the least recently
//     used of more than SessionConfig.MaxSessions sessions. A command naming
//     a session that no longer lives fails with ErrSessionUnknown, without
//     applying: never a second apply, but the client then cannot learn
//     whether an earlier copy applied. Seq counts from 1; the client reports
//     in Acked the highest seq below which it has every result, and results
//     at or below it are forgotten (a copy of such a command fails with
//     ErrSessionResultForgotten). At most SessionConfig.MaxPending results
//     are kept per session; a command beyond that fails with ErrSessionBusy.
//   - Idempotency keys (SessionKeyed). A command with a key is applied at
//     most once per key while the key is remembered: for SessionConfig.KeyTTL
//     of log time after its apply, and while fewer than
//     SessionConfig.MaxKeys keys applied after it. A copy within that
//     returns the first result; a copy arriving after the key was forgotten
//     applies again. Keys suit clients that cannot register (an HTTP request
//     carrying an Idempotency-Key header); registered sessions are the
//     stronger guarantee.
//
// Every member must run the same SessionConfig: members with different
// limits would decide differently.

// SessionOp says what a SessionCommand asks of Sessions.
type SessionOp uint8

const (
	// SessionNone applies Cmd with no de-duplication.
	SessionNone SessionOp = iota
	// SessionRegister opens a session; the result carries its id.
	SessionRegister
	// SessionUnregister closes Session.
	SessionUnregister
	// SessionCall applies Cmd once as (Session, Seq).
	SessionCall
	// SessionKeyed applies Cmd once per Key.
	SessionKeyed
)

// SessionCommand is a command as Sessions replicates it: the application's
// command with what names it.
type SessionCommand[C any] struct {
	Op      SessionOp
	Session uint64 // SessionCall, SessionUnregister: the session's id
	Seq     uint64 // SessionCall: the command's number in its session, from 1
	// Acked (SessionCall): the client has the results of every seq at or
	// below it; Sessions forgets them.
	Acked uint64
	Key   string // SessionKeyed: the idempotency key
	// Time is the proposer's clock (Unix nanoseconds) when the command was
	// made; the log's time is the largest Time applied. Zero leaves it.
	Time int64
	Cmd  C
}

// SessionResult is what applying a SessionCommand returns.
type SessionResult[R any] struct {
	// Value is the application's result (SessionNone, SessionCall,
	// SessionKeyed) when Err is nil.
	Value R
	// Session is the id SessionRegister opened.
	Session uint64
	// Duplicate: Cmd had applied before; Value is that apply's result.
	Duplicate bool
	// Err is ErrSessionUnknown, ErrSessionResultForgotten or ErrSessionBusy
	// when the command was refused without applying.
	Err error
}

// Errors a SessionResult carries. A refused command did not apply.
var (
	// ErrSessionUnknown: the session expired, was closed or never existed.
	ErrSessionUnknown = errors.New("raftcore: session unknown or expired")
	// ErrSessionResultForgotten: a copy of a command whose result the
	// client acknowledged (Acked) arrived; it applied before.
	ErrSessionResultForgotten = errors.New("raftcore: session command applied before, its result acknowledged and forgotten")
	// ErrSessionBusy: the session holds SessionConfig.MaxPending results
	// its client has not acknowledged.
	ErrSessionBusy = errors.New("raftcore: session has too many unacknowledged results")
)

// SessionConfig bounds the state Sessions keeps. Zero values mean the
// defaults.
type SessionConfig struct {
	// SessionTTL: a session that applied nothing for this long (log time)
	// expires. The default is one hour.
	SessionTTL time.Duration
	// MaxSessions: registering one more expires the least recently used.
	// The default is 10,000.
	MaxSessions int
	// MaxPending is the most unacknowledged results kept per session. The
	// default is 128.
	MaxPending int
	// KeyTTL: an idempotency key is forgotten this long (log time) after its
	// command applied. The default is 24 hours.
	KeyTTL time.Duration
	// MaxKeys: remembering one more key forgets the oldest. The default is
	// 100,000.
	MaxKeys int
}

func (c SessionConfig) withDefaults() SessionConfig {
	if c.SessionTTL <= 0 {
		c.SessionTTL = time.Hour
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 10_000
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 128
	}
	if c.KeyTTL <= 0 {
		c.KeyTTL = 24 * time.Hour
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100_000
	}
	return c
}

// Sessions is a StateMachine that applies the wrapped machine's commands at
// most once per session sequence number or idempotency key (see
// SessionCommand and the guarantee above). Its state travels in snapshots,
// ahead of the wrapped machine's. Like any StateMachine it is used by one
// node's engine, which serialises its calls.
type Sessions[C, R any] struct {
	sm      StateMachine[C, R]
	results Codec[R]
	cfg     SessionConfig

	now      int64 // log time
	sessions map[uint64]*list.Element
	lru      *list.List // of *clientSession, least recently used first
	keys     map[string]*list.Element
	keyOrder *list.List // of *keyedResult, oldest first
}

type clientSession struct {
	id         uint64
	lastActive int64
	acked      uint64
	results    map[uint64]R0
}

// R0 holds a result in its encoded form, so that a snapshot and a restored
// state hold the same bytes.
type R0 = []byte

type keyedResult struct {
	key    string
	at     int64
	result []byte
}

var _ StateMachine[SessionCommand[struct{}], SessionResult[struct{}]] = (*Sessions[struct{}, struct{}])(nil)

// NewSessions wraps sm. results encodes sm's results for the snapshot (and
// decodes them on restore and for duplicates).
func NewSessions[C, R any](sm StateMachine[C, R], results Codec[R], cfg SessionConfig) *Sessions[C, R] {
	s := &Sessions[C, R]{sm: sm, results: results, cfg: cfg.withDefaults()}
	s.reset()
	return s
}

func (s *Sessions[C, R]) reset() {
	s.now = 0
	s.sessions = map[uint64]*list.Element{}
	s.keys = map[string]*list.Element{}
	s.lru = list.New()
	s.keyOrder = list.New()
}

// Machine returns the wrapped state machine.
func (s *Sessions[C, R]) Machine() StateMachine[C, R] { return s.sm }

// Apply implements StateMachine.
func (s *Sessions[C, R]) Apply(index uint64, cmd SessionCommand[C]) SessionResult[R] {
	if cmd.Time > s.now {
		s.now = cmd.Time
	}
	s.expire()
	switch cmd.Op {
	case SessionRegister:
		s.sessions[index] = s.lru.PushBack(&clientSession{id: index, lastActive: s.now, results: map[uint64][]byte{}})
		for len(s.sessions) > s.cfg.MaxSessions {
			s.drop(s.lru.Front())
		}
		return SessionResult[R]{Session: index}
	case SessionUnregister:
		e := s.sessions[cmd.Session]
		if e == nil {
			return SessionResult[R]{Err: ErrSessionUnknown}
		}
		s.drop(e)
		return SessionResult[R]{Session: cmd.Session}
	case SessionCall:
		return s.call(index, cmd)
	case SessionKeyed:
		return s.keyed(index, cmd)
	}
	return SessionResult[R]{Value: s.sm.Apply(index, cmd.Cmd)}
}

func (s *Sessions[C, R]) call(index uint64, cmd SessionCommand[C]) SessionResult[R] {
	e := s.sessions[cmd.Session]
	if e == nil {
		return SessionResult[R]{Err: ErrSessionUnknown}
	}
	cs := e.Value.(*clientSession)
	cs.lastActive = s.now
	s.lru.MoveToBack(e)
	if cmd.Acked > cs.acked {
		for seq := range cs.results {
			if seq <= cmd.Acked {
				delete(cs.results, seq)
			}
		}
		cs.acked = cmd.Acked
	}
	if cmd.Seq <= cs.acked {
		return SessionResult[R]{Err: ErrSessionResultForgotten}
	}
	if b, ok := cs.results[cmd.Seq]; ok {
		return s.duplicate(b)
	}
	if len(cs.results) >= s.cfg.MaxPending {
		return SessionResult[R]{Err: ErrSessionBusy}
	}
	res, b := s.apply(index, cmd.Cmd)
	cs.results[cmd.Seq] = b
	return res
}

func (s *Sessions[C, R]) keyed(index uint64, cmd SessionCommand[C]) SessionResult[R] {
	if e := s.keys[cmd.Key]; e != nil {
		return s.duplicate(e.Value.(*keyedResult).result)
	}
	res, b := s.apply(index, cmd.Cmd)
	s.keys[cmd.Key] = s.keyOrder.PushBack(&keyedResult{key: cmd.Key, at: s.now, result: b})
	for len(s.keys) > s.cfg.MaxKeys {
		s.forget(s.keyOrder.Front())
	}
	return res
}

// apply applies cmd and returns its result, and the result's encoding to
// remember. A result that cannot be encoded is still returned; its copies
// then get the zero result, flagged Duplicate.
func (s *Sessions[C, R]) apply(index uint64, cmd C) (SessionResult[R], []byte) {
	v := s.sm.Apply(index, cmd)
	b, err := s.results.Encode(v)
	if err != nil {
		b = nil
	}
	return SessionResult[R]{Value: v}, b
}

func (s *Sessions[C, R]) duplicate(b []byte) SessionResult[R] {
	var v R
	if b != nil {
		if d, err := s.results.Decode(b); err == nil {
			v = d
		}
	}
	return SessionResult[R]{Value: v, Duplicate: true}
}

// expire drops the sessions and keys whose time ran out.
func (s *Sessions[C, R]) expire() {
	ttl, keyTTL := int64(s.cfg.SessionTTL), int64(s.cfg.KeyTTL)
	for e := s.lru.Front(); e != nil && e.Value.(*clientSession).lastActive < s.now-ttl; e = s.lru.Front() {
		s.drop(e)
	}
	for e := s.keyOrder.Front(); e != nil && e.Value.(*keyedResult).at < s.now-keyTTL; e = s.keyOrder.Front() {
		s.forget(e)
	}
}

func (s *Sessions[C, R]) drop(e *list.Element) {
	delete(s.sessions, e.Value.(*clientSession).id)
	s.lru.Remove(e)
}

func (s *Sessions[C, R]) forget(e *list.Element) {
	delete(s.keys, e.Value.(*keyedResult).key)
	s.keyOrder.Remove(e)
}

// sessionsVersion is the version of the session state in a snapshot.
const sessionsVersion = 1

// Snapshot implements StateMachine: the session state (length-prefixed),
// then the wrapped machine's snapshot.
func (s *Sessions[C, R]) Snapshot(w io.Writer) error {
	b := []byte{sessionsVersion}
	b = appendVarint(b, s.now)
	b = appendUvarint(b, uint64(s.lru.Len()))
	for e := s.lru.Front(); e != nil; e = e.Next() {
		cs := e.Value.(*clientSession)
		b = appendUvarint(b, cs.id)
		b = appendVarint(b, cs.lastActive)
		b = appendUvarint(b, cs.acked)
		seqs := make([]uint64, 0, len(cs.results))
		for seq := range cs.results {
			seqs = append(seqs, seq)
		}
		slices.Sort(seqs)
		b = appendUvarint(b, uint64(len(seqs)))
		for _, seq := range seqs {
			b = appendUvarint(b, seq)
			b = appendBytes(b, cs.results[seq])
		}
	}
	b = appendUvarint(b, uint64(s.keyOrder.Len()))
	for e := s.keyOrder.Front(); e != nil; e = e.Next() {
		k := e.Value.(*keyedResult)
		b = appendBytes(b, []byte(k.key))
		b = appendVarint(b, k.at)
		b = appendBytes(b, k.result)
	}
	if _, err := w.Write(append(appendUvarint(nil, uint64(len(b))), b...)); err != nil {
		return err
	}
	return s.sm.Snapshot(w)
}

// Restore implements StateMachine. It refuses, with ErrCorrupt, session
// state it cannot read.
func (s *Sessions[C, R]) Restore(r io.Reader) error {
	size, err := readUvarint(byteReader{r})
	if err != nil || size > maxSnapshotHeader {
		return fmt.Errorf("%w: snapshot session state size", ErrCorrupt)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return fmt.Errorf("%w: snapshot session state truncated", ErrCorrupt)
	}
	restored := &Sessions[C, R]{sm: s.sm, results: s.results, cfg: s.cfg}
	restored.reset()
	if err := restored.parse(body); err != nil {
		return err
	}
	if err := s.sm.Restore(r); err != nil {
		return err
	}
	s.now, s.sessions, s.keys = restored.now, restored.sessions, restored.keys
	s.lru, s.keyOrder = restored.lru, restored.keyOrder
	return nil
}

func (s *Sessions[C, R]) parse(body []byte) error {
	d := decoder{b: body}
	if v := d.byte(); v != sessionsVersion {
		return fmt.Errorf("%w: snapshot session state version %d, want %d", ErrCorrupt, v, sessionsVersion)
	}
	s.now = d.varint()
	n := d.count()
	for range n {
		cs := &clientSession{id: d.uvarint(), lastActive: d.varint(), acked: d.uvarint(), results: map[uint64][]byte{}}
		results := d.count()
		for range results {
			seq := d.uvarint()
			cs.results[seq] = d.bytes()
		}
		if d.err != nil || s.sessions[cs.id] != nil {
			return fmt.Errorf("%w: snapshot session state", ErrCorrupt)
		}
		s.sessions[cs.id] = s.lru.PushBack(cs)
	}
	n = d.count()
	for range n {
		k := &keyedResult{key: string(d.bytes()), at: d.varint(), result: d.bytes()}
		if d.err != nil || s.keys[k.key] != nil {
			return fmt.Errorf("%w: snapshot session keys", ErrCorrupt)
		}
		s.keys[k.key] = s.keyOrder.PushBack(k)
	}
	if d.err != nil || len(d.b) != 0 {
		return fmt.Errorf("%w: snapshot session state", ErrCorrupt)
	}
	return nil
}
