package adapters

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
	"github.com/jangada-io/jangada/bench/harness"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// KVCluster is a jangada cluster replicating the kvstore application's
// Machine, with the kvstore HTTP API served by the leader on loopback.
type KVCluster struct {
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

// StartKV starts a KVCluster of the given size with its data under dir and
// waits for its first leader.
func StartKV(ctx context.Context, dir string, nodes int) (*KVCluster, error) {
	transports, peers, err := jangadaTransports("quic", nodes)
	if err != nil {
		return nil, err
	}
	c := &KVCluster{}
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
	if err := harness.WaitFor(ctx, func() bool { return c.findLeader() >= 0 }); err != nil {
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

func (c *KVCluster) findLeader() int {
	for i, n := range c.nodes {
		if n.IsLeader() {
			return i
		}
	}
	return -1
}

func (c *KVCluster) nextKey() string {
	return "k" + strconv.FormatUint(c.keys.Add(1)%apiKeys, 10)
}

// WriteLibrary writes value under the next key through the leader's
// Propose: the library API.
func (c *KVCluster) WriteLibrary(ctx context.Context, value []byte) error {
	_, err := c.nodes[c.leader].Propose(ctx, kvstore.Command{Op: kvstore.OpPut, Key: c.nextKey(), Value: value})
	return err
}

// WriteHTTP writes value under the next key through the kvstore HTTP API.
func (c *KVCluster) WriteHTTP(ctx context.Context, value []byte) error {
	_, err := c.client.Put(ctx, c.nextKey(), value, kvstore.WriteOptions{})
	return err
}

// Close stops the HTTP server and every node.
func (c *KVCluster) Close() error {
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
