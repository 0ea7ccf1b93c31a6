package raftcore

import (
	"context"
	"fmt"
	"log/slog"
)

// raftLogger adapts slog to etcd raft's Logger. raft calls Panicf on broken
// invariants; the panic is recovered by the raft goroutine, which stops the
// node with the message instead of crashing the process.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) log(level slog.Level, msg string) {
	r.l.Log(context.Background(), level, msg, "component", "raft")
}

func (r raftLogger) Debug(v ...any) { r.log(slog.LevelDebug, fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) {
	r.log(slog.LevelDebug, fmt.Sprintf(format, v...))
}
func (r raftLogger) Info(v ...any) { r.log(slog.LevelInfo, fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any) {
	level := slog.LevelInfo
	if format == unstableEntryMissing {
		level = slog.LevelDebug
	}
	r.log(level, fmt.Sprintf(format, v...))
}

// unstableEntryMissing is logged by raft (unstable.stableTo) when a
// MsgStorageAppendResp names an entry that an earlier response already made
// stable. It is benign and, with AsyncStorageWrites, routine: raft attaches
// to the MsgStorageAppend of every Ready the (index, term) of the last entry
// not yet known stable, including entries whose write is still in flight
// (newStorageAppendRespMsg). A Ready that follows an append before the log
// writer finished it (a commit index or a vote to save, messages to send
// after the sync) therefore carries the same (index, term) again; the log
// writer answers both, in order, and the second finds the entry stable
// already. A three-node start hits it on the leader, whose first entry's
// append is still being written when the followers' acknowledgements move
// its commit index. Raft ignores the repeat; it is logged at Debug so that
// it does not read as a fault.
const unstableEntryMissing = "entry at index %d missing from unstable log; ignoring"

func (r raftLogger) Warning(v ...any) { r.log(slog.LevelWarn, fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.log(slog.LevelWarn, fmt.Sprintf(format, v...))
}
func (r raftLogger) Error(v ...any) { r.log(slog.LevelError, fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) {
	r.log(slog.LevelError, fmt.Sprintf(format, v...))
}
func (r raftLogger) Fatal(v ...any)                 { r.Panic(v...) }
func (r raftLogger) Fatalf(format string, v ...any) { r.Panicf(format, v...) }
func (r raftLogger) Panic(v ...any) {
	msg := fmt.Sprint(v...)
	r.log(slog.LevelError, msg)
	panic(raftPanic(msg))
}
func (r raftLogger) Panicf(format string, v ...any) { r.Panic(fmt.Sprintf(format, v...)) }

type raftPanic string
