package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jangada-io/jangada/backup"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// benchStateSize is the state BenchmarkBackup512MiB backs up and restores.
const benchStateSize = 512 << 20

// bulkState is a state machine whose snapshot is size bytes of JSON-like
// records (an id, a few words from a vocabulary of 4,096 pseudo-words, a
// number), generated as it is written so that no copy of it is held in
// memory. zstd stores such records in about a third of their size; random
// bytes would not compress at all, text written by people compresses
// better.
type bulkState struct{ size int64 }

func (s bulkState) Apply(uint64, string) int { return 0 }

func (s bulkState) Snapshot(w io.Writer) error {
	rng := rand.New(rand.NewPCG(1, 2))
	words := make([]string, 4096)
	for i := range words {
		word := make([]byte, 3+rng.IntN(8))
		for j := range word {
			word[j] = byte('a' + rng.IntN(26))
		}
		words[i] = string(word)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var rec []byte
	for written, id := int64(0), uint64(0); written < s.size; id++ {
		rec = append(rec[:0], `{"id":`...)
		rec = strconv.AppendUint(rec, id, 10)
		rec = append(rec, `,"name":"`...)
		rec = append(rec, words[rng.IntN(len(words))]...)
		rec = append(rec, ' ')
		rec = append(rec, words[rng.IntN(len(words))]...)
		rec = append(rec, `","tags":["`...)
		rec = append(rec, words[rng.IntN(len(words))]...)
		rec = append(rec, `","`...)
		rec = append(rec, words[rng.IntN(len(words))]...)
		rec = append(rec, `"],"score":`...)
		rec = strconv.AppendUint(rec, rng.Uint64N(1_000_000), 10)
		rec = append(rec, "}\n"...)
		rec = rec[:min(int64(len(rec)), s.size-written)]
		if _, err := bw.Write(rec); err != nil {
			return err
		}
		written += int64(len(rec))
	}
	return bw.Flush()
}

func (s bulkState) Restore(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

type stringCodec struct{}

func (stringCodec) Encode(s string) ([]byte, error) { return []byte(s), nil }
func (stringCodec) Decode(b []byte) (string, error) { return string(b), nil }

// BenchmarkBackup512MiB measures the whole backup path of a 512 MiB state
// and the restore of it (MB/s of state):
//
//   - create: a single-node cluster over QUIC with pebble and the snapshot
//     files serves a State call (read index round, snapshot written to
//     disk, streamed over jangada/mgmt/1), which backup.Create compresses,
//     hashes and stores in a directory, fsynced;
//   - restore: backup.Restore reads the directory's backup, checks it and
//     writes it into a new node's pebble and snapshot stores, fsynced.
//
// Run it alone: go test -run '^$' -bench Backup512MiB -benchtime 1x .
func BenchmarkBackup512MiB(b *testing.B) {
	dir := b.TempDir()
	ctx := context.Background()
	secret := []byte(strings.Repeat("b", 32))
	key, err := transportquic.GenerateIdentity()
	if err != nil {
		b.Fatal(err)
	}
	tr, err := transportquic.New(transportquic.Config{NodeID: 1, Identity: key, ClusterSecret: secret, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	ls, ss, err := openStores("pebble", filepath.Join(dir, "node"))
	if err != nil {
		b.Fatal(err)
	}
	self := raftcore.Peer{ID: 1, Addr: tr.Addr().String()}
	snapshots := &snapshotTimer{}
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{self}, Preset: raftcore.Testing, Transport: tr, LogStore: ls, SnapshotStore: ss,
		Observer: snapshots,
	}, bulkState{size: benchStateSize}, stringCodec{})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Close(ctx)
	srv, err := mgmt.Mount(tr, node, mgmt.ServerConfig{SecretHoldersAreAdmins: true, StateMachine: "bulk"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if _, err := node.WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	toolKey, _ := transportquic.GenerateIdentity()
	toolTr, err := transportquic.New(transportquic.Config{NodeID: 1 << 62, Identity: toolKey, ClusterSecret: secret, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer toolTr.Close()
	cl, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: self.Addr}}, mgmt.ClientConfig{Transport: toolTr})
	if err != nil {
		b.Fatal(err)
	}
	target, err := backup.NewDirTarget(filepath.Join(dir, "backups"))
	if err != nil {
		b.Fatal(err)
	}
	var opened time.Duration
	src := backup.SourceFunc(func(ctx context.Context) (backup.State, error) {
		start := time.Now()
		st, err := clusterState(cl).OpenState(ctx) // as backup create
		opened = time.Since(start)
		return st, err
	})

	// The node's snapshot alone, for comparison with the one a backup takes
	// (applies pause while a snapshot is written).
	if _, err := node.Propose(ctx, "alone"); err != nil {
		b.Fatal(err)
	}
	if _, err := node.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	alone := snapshots.last()

	var last backup.Manifest
	b.Run("create", func(b *testing.B) {
		b.SetBytes(benchStateSize)
		defer reportCPU(b, cpuTime())
		for i := 0; b.Loop(); i++ {
			// A new entry each time, so that each backup takes a new snapshot.
			if _, err := node.Propose(ctx, fmt.Sprint(i)); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			m, err := backup.Create(ctx, target, src, backup.CreateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			last = m
			b.ReportMetric(float64(m.BodySize)/float64(m.StateSize), "stored/state")
			b.Logf("backup of %d MiB (%d MiB stored) in %v, of which %v to open the copy; the node's snapshot took %v (%v without a backup reading it)",
				m.StateSize>>20, m.BodySize>>20, time.Since(start).Round(time.Millisecond), opened.Round(time.Millisecond),
				snapshots.last().Round(time.Millisecond), alone.Round(time.Millisecond))
		}
	})
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(benchStateSize)
		defer reportCPU(b, cpuTime())
		for i := 0; b.Loop(); i++ {
			ls, ss, err := openStores("pebble", filepath.Join(dir, fmt.Sprintf("restored-%d", i)))
			if err != nil {
				b.Fatal(err)
			}
			_, err = backup.Restore(ctx, target, last.Name, backup.RestoreOptions{
				StateMachine: "bulk", LogStore: ls, SnapshotStore: ss, Voters: []raftcore.Peer{{ID: 5, Addr: "127.0.0.1:7105"}},
			})
			if cerr := ls.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// snapshotTimer is a raftcore.Observer that keeps the duration of the
// last snapshot.
type snapshotTimer struct{ d atomic.Int64 }

func (*snapshotTimer) Propose(ctx context.Context, _ int) (context.Context, func(uint64, error)) {
	return ctx, func(uint64, error) {}
}

func (*snapshotTimer) Read(ctx context.Context) (context.Context, func(uint64, error)) {
	return ctx, func(uint64, error) {}
}

func (*snapshotTimer) LogSaved(int, int, time.Duration, error) {}

func (*snapshotTimer) Applied(int, time.Duration) {}

func (s *snapshotTimer) Snapshot(_ raftcore.SnapshotKind, d time.Duration, _ int64, _ error) {
	s.d.Store(int64(d))
}

func (s *snapshotTimer) last() time.Duration { return time.Duration(s.d.Load()) }

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the MB of state per CPU-second since cpuStart: on a
// shared machine the wall clock measures the neighbours as well.
func reportCPU(b *testing.B, cpuStart time.Duration) {
	b.ReportMetric(float64(benchStateSize)*float64(b.N)/1e6/(cpuTime()-cpuStart).Seconds(), "MB/cpu-s")
}
