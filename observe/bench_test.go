package observe

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// discardExporter drops spans after the batch processor hands them over, so
// the benchmark pays for tracing everything but the network.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// sampledProvider traces a fraction of root spans, batching them to nowhere.
func sampledProvider(b *testing.B, fraction float64) trace.TracerProvider {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(fraction))),
		sdktrace.WithBatcher(discardExporter{}),
	)
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

type benchNode = *clustertest.Node[clustertest.KVCommand, clustertest.KVResult]

// benchCluster is a three-node loopback cluster to propose to, observed on
// every node (metrics, instrumented transports, tracing sampled at 1%) or
// not observed at all.
type benchCluster struct {
	lead benchNode
	seq  atomic.Uint64
}

func startBenchCluster(b *testing.B, observed bool) *benchCluster {
	var observers []*Observer
	opts := clustertest.Options{NewNetwork: clustertest.NewLoopback}
	if observed {
		opts.Configure = func(cfg *raftcore.Config) {
			o, err := New(Config{TracerProvider: sampledProvider(b, 0.01)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = o.Close() })
			observers = append(observers, o)
			cfg.Observer = o
			cfg.Transport = o.InstrumentTransport(cfg.Transport)
		}
	}
	c := clustertest.NewCluster(b, opts, 3,
		func() raftcore.StateMachine[clustertest.KVCommand, clustertest.KVResult] { return clustertest.NewKV() },
		clustertest.JSONCodec[clustertest.KVCommand]{})
	for i, o := range observers {
		if err := o.Attach(c.Node(uint64(i + 1))); err != nil {
			b.Fatal(err)
		}
	}
	return &benchCluster{lead: c.Leader()}
}

// propose makes one proposal. The caller has no span of its own, so the
// proposal span is a root and 1% of them are sampled.
func (bc *benchCluster) propose(b *testing.B) bool {
	n := bc.seq.Add(1)
	if _, err := bc.lead.Propose(context.Background(), put(fmt.Sprintf("k%d", n%1024), "v")); err != nil {
		b.Error(err)
		return false
	}
	return true
}

// round makes n proposals from workers goroutines and returns how long
// they took.
func (bc *benchCluster) round(b *testing.B, n, workers int) time.Duration {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if !bc.propose(b) {
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkProposalThroughput proposes from many goroutines to the leader of
// a three-node loopback cluster, unobserved and observed.
func BenchmarkProposalThroughput(b *testing.B) {
	for _, observed := range []bool{false, true} {
		b.Run(fmt.Sprintf("observe=%v", observed), func(b *testing.B) {
			bc := startBenchCluster(b, observed)
			b.SetParallelism(8)
			b.ResetTimer()
			cpuBefore := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !bc.propose(b) {
						return
					}
				}
			})
			cpu := processCPU(b) - cpuBefore
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
			// CPU time is steadier than wall time on a shared machine: it
			// shows what observing costs even when the cores are contended.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/proposal")
		})
	}
}

// processCPU returns the CPU time (user and system) this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkObserveOverhead runs an unobserved and an observed cluster side
// by side and alternates rounds of proposals between them, so that both see
// the same machine noise; it reports each one's time per proposal and their
// ratio (observed/unobserved: 1.05 means 5% slower).
func BenchmarkObserveOverhead(b *testing.B) {
	const roundSize, workers = 256, 16
	plain, observed := startBenchCluster(b, false), startBenchCluster(b, true)
	var plainTime, observedTime time.Duration
	b.ResetTimer()
	for done, i := 0, 0; done < b.N; i++ {
		n := min(roundSize, b.N-done)
		if i%2 == 0 {
			plainTime += plain.round(b, n, workers)
			observedTime += observed.round(b, n, workers)
		} else {
			observedTime += observed.round(b, n, workers)
			plainTime += plain.round(b, n, workers)
		}
		done += n
	}
	b.ReportMetric(float64(plainTime.Nanoseconds())/float64(b.N), "off-ns/proposal")
	b.ReportMetric(float64(observedTime.Nanoseconds())/float64(b.N), "on-ns/proposal")
	b.ReportMetric(float64(observedTime)/float64(plainTime), "on/off")
}

// BenchmarkProposeHook measures the hook pair the engine calls around every
// proposal; with tracing off it allocates nothing.
func BenchmarkProposeHook(b *testing.B) {
	for _, mode := range []struct {
		name     string
		sampling float64 // <0: tracing off
	}{
		{"tracing=off", -1},
		{"tracing=1%", 0.01},
		{"tracing=100%", 1},
	} {
		b.Run(mode.name, func(b *testing.B) {
			cfg := Config{}
			if mode.sampling >= 0 {
				cfg.TracerProvider = sampledProvider(b, mode.sampling)
			}
			o, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = o.Close() })
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_, done := o.Propose(ctx, 64)
				done(1, nil)
			}
		})
	}
}

// BenchmarkInstrumentedSend measures what the transport wrapper adds to a
// Send of eight appends to two peers (each carrying one 100-byte entry).
func BenchmarkInstrumentedSend(b *testing.B) {
	msgs := testMessages(2)
	msgs = append(msgs, testMessages(2)...)
	for _, instrumented := range []bool{false, true} {
		b.Run(fmt.Sprintf("instrumented=%v", instrumented), func(b *testing.B) {
			var tr raftcore.Transport = &nullTransport{}
			if instrumented {
				o, err := New(Config{})
				if err != nil {
					b.Fatal(err)
				}
				tr = o.InstrumentTransport(tr)
			}
			b.ReportAllocs()
			for b.Loop() {
				tr.Send(msgs)
			}
		})
	}
}

// nullTransport drops everything.
type nullTransport struct{ fakeTransport }

func (*nullTransport) Send([]*raftpb.Message) {}
