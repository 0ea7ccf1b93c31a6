package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// kvCluster is a jangada cluster replicating the kvstore application's
// Machine, with the kvstore HTTP API served by the leader on loopback.
type kvCluster struct {
	nodes    []*raftcore.Node[kvstore.Command, kvstore.Result]
	machines []*kvstore.Machine
	leader   int
	server   *http.Server
	client   *kvstore.Client
	keys     atomic.Uint64
}

// apiKeys is how many distinct keys the API scenario writes, so that the
// state stays bounded.
const apiKeys = 4096

func startKV(ctx context.Context, dir string, nodes int) (*kvCluster, error) {
	transports, peers, err := jangadaTransports("quic", nodes)
	if err != nil {
		return nil, err
	}
	c := &kvCluster{}
	for i := range nodes {
		logs, snaps, err := jangadaStores("pebble", filepath.Join(dir, fmt.Sprintf("node%d", i+1)))
		if err != nil {
			for _, t := range transports[i:] {
				_ = t.Close()
			}
			_ = c.Close()
			return nil, err
		}
		m := kvstore.NewMachine()
		n, err := raftcore.Start(ctx, raftcore.Config{
			NodeID: uint64(i + 1), Peers: peers, Preset: raftcore.Production,
			Transport: transports[i], LogStore: logs, SnapshotStore: snaps,
		}, raftcore.StateMachine[kvstore.Command, kvstore.Result](m), kvstore.CommandCodec{})
		if err != nil {
			for _, t := range transports[i+1:] {
				_ = t.Close()
			}
			_ = c.Close()
			return nil, err
		}
		c.nodes, c.machines = append(c.nodes, n), append(c.machines, m)
	}
	if err := waitFor(ctx, func() bool { return c.findLeader() >= 0 }); err != nil {
		_ = c.Close()
		return nil, err
	}
	c.leader = c.findLeader()
	h, err := kvstore.NewHandler(kvstore.HandlerConfig{Node: c.nodes[c.leader], Machine: c.machines[c.leader]})
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	c.server = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.server.Serve(ln) }()
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	c.client, err = kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{ln.Addr().String()}, HTTPClient: httpClient})
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (c *kvCluster) findLeader() int {
	for i, n := range c.nodes {
		if n.IsLeader() {
			return i
		}
	}
	return -1
}

func (c *kvCluster) nextKey() string {
	return "k" + strconv.FormatUint(c.keys.Add(1)%apiKeys, 10)
}

func (c *kvCluster) writeLibrary(ctx context.Context, value []byte) error {
	_, err := c.nodes[c.leader].Propose(ctx, kvstore.Command{Op: kvstore.OpPut, Key: c.nextKey(), Value: value})
	return err
}

func (c *kvCluster) writeHTTP(ctx context.Context, value []byte) error {
	_, err := c.client.Put(ctx, c.nextKey(), value, kvstore.WriteOptions{})
	return err
}

func (c *kvCluster) Close() error {
	var errs []error
	if c.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, c.server.Shutdown(ctx))
		cancel()
	}
	for _, n := range c.nodes {
		errs = append(errs, closeKV(n))
	}
	return errors.Join(errs...)
}

func closeKV(n *raftcore.Node[kvstore.Command, kvstore.Result]) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return n.Close(ctx)
}

// runAPI compares writes through the library (Propose of a kvstore
// Command) with the same writes through the kvstore HTTP API, on one
// cluster, at the headline client count and 64 B values.
func (r *Runner) runAPI(ctx context.Context, j job) {
	const size = 64
	keys := []Key{
		{Scenario: ScenarioAPILibrary, System: j.system.Name, Nodes: j.spec.Nodes, Size: size, Clients: headlineClients},
		{Scenario: ScenarioAPIHTTP, System: j.system.Name, Nodes: j.spec.Nodes, Size: size, Clients: headlineClients},
	}
	dir, err := r.dataDir("kvstore")
	if err == nil {
		defer removeAll(dir)
	}
	var c *kvCluster
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, startTimeout)
		ResetPeakRSS()
		c, err = startKV(sctx, dir, j.spec.Nodes)
		cancel()
	}
	if err != nil {
		for _, k := range keys {
			r.results.AddNotMeasured(k, j.system, "start failed: "+err.Error())
			r.progress("kvstore %s: start failed: %v", k.Scenario, err)
		}
		return
	}
	defer func() { _ = c.Close() }()
	value := make([]byte, size)
	fillPayload(value)
	w := Window{Warmup: r.cfg.Warmup, Duration: r.cfg.Duration}
	for i, op := range []func(context.Context, []byte) error{c.writeLibrary, c.writeHTTP} {
		m := Drive(ctx, headlineClients, w, size, func(ctx context.Context) error { return op(ctx, value) })
		r.results.AddMeasurement(keys[i], j.system, m, PeakRSS())
		r.progress("kvstore %s c=%d: %.0f ops/s p50 %s p99 %s errors %d",
			keys[i].Scenario, headlineClients, m.OpsPerSec, fmtDur(m.P50), fmtDur(m.P99), m.Errors)
	}
}
