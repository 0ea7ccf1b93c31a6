package raftcore

import "sync"

// workQueue is an unbounded FIFO between the engine's goroutines. Pushing
// never blocks, so the raft goroutine can hand work to the log writer and the
// applier without ever waiting on them; its length is bounded in practice by
// raft's own flow control (MaxApplyingSize, MaxInflightMsgs, the proposal queue).
type workQueue[T any] struct {
	mu     sync.Mutex
	items  []T
	signal chan struct{}
}

func newWorkQueue[T any]() *workQueue[T] {
	return &workQueue[T]{signal: make(chan struct{}, 1)}
}

func (q *workQueue[T]) push(items ...T) {
	q.mu.Lock()
	q.items = append(q.items, items...)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// take returns everything queued, oldest first, or nil.
func (q *workQueue[T]) take() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// ready is signalled after a push; receive from it, then take.
func (q *workQueue[T]) ready() <-chan struct{} { return q.signal }
