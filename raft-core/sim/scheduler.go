package sim

import (
	"container/heap"
	cryptorand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// scheduler is the virtual clock: a queue of timed events run one at a time
// on the caller's goroutine. Events due at the same instant run in the order
// they were scheduled, so a run depends on nothing but its seed.
type scheduler struct {
	now    time.Duration
	seq    uint64
	events eventQueue
	rng    *rand.Rand
	// onPanic, when set, receives a panic raised by an event; the run goes on.
	onPanic func(p any)
}

type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

func newScheduler(seed uint64) *scheduler {
	return &scheduler{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// after runs fn once d of virtual time has passed.
func (s *scheduler) after(d time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.events, &event{at: s.now + max(d, 0), seq: s.seq, fn: fn})
}

// runUntil runs events in time order until the clock would pass end or done
// reports true. It returns whether done stopped it.
func (s *scheduler) runUntil(end time.Duration, done func() bool) bool {
	for len(s.events) > 0 {
		if done != nil && done() {
			return true
		}
		if s.events[0].at > end {
			break
		}
		e := heap.Pop(&s.events).(*event)
		s.now = e.at
		s.run(e.fn)
	}
	s.now = max(s.now, end)
	return done != nil && done()
}

// run runs one event, handing a panic to onPanic when it is set.
func (s *scheduler) run(fn func()) {
	if s.onPanic != nil {
		defer func() {
			if p := recover(); p != nil {
				s.onPanic(p)
			}
		}()
	}
	fn()
}

// between returns a uniformly random duration in [lo, hi].
func (s *scheduler) between(lo, hi time.Duration) time.Duration { return randomDuration(s.rng, lo, hi) }

// randomDuration returns a uniformly random duration in [lo, hi] drawn from rng.
func randomDuration(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

// chance reports true with probability p.
func (s *scheduler) chance(p float64) bool { return s.rng.Float64() < p }

// pick returns a random element of xs, which must not be empty.
func pick[T any](s *scheduler, xs []T) T { return xs[s.rng.IntN(len(xs))] }

// randMu serialises simulations: etcd raft draws its randomized election
// timeouts from crypto/rand.Reader, a process-wide variable, which a run
// replaces with a reader seeded from its own seed.
var randMu sync.Mutex

// withSeededRand runs fn with crypto/rand.Reader replaced by a deterministic
// stream derived from seed, and restores the reader afterwards. Only one
// such fn runs at a time in the process; other code that reads
// crypto/rand.Reader meanwhile gets predictable bytes, so a simulation must
// not share its process with code that needs real randomness.
func withSeededRand(seed uint64, fn func()) {
	randMu.Lock()
	defer randMu.Unlock()
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "jangada-sim-raft-election-rand")
	saved := cryptorand.Reader
	cryptorand.Reader = rand.NewChaCha8(key)
	defer func() { cryptorand.Reader = saved }()
	fn()
}
