package transportquic_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"github.com/jangada-io/jangada/raft-core/transporttest"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// quicNetwork runs raft-core's cluster scenarios over real QUIC on loopback:
// every node has a fixed address and identity, and a FaultConn under its
// transport cuts links for partitions and drops packets for loss.
type quicNetwork struct {
	t    testing.TB
	seed uint64
	// plain gives nodes bare UDP sockets: no faults, but quic-go's batched
	// and segmented socket I/O, for tests of bulk transfers.
	plain bool

	mu      sync.Mutex
	addrs   map[uint64]*net.UDPAddr
	keys    map[uint64]ed25519.PrivateKey
	pending map[uint64]*net.UDPConn // sockets reserved for a node's first start
	faults  map[uint64]*transportquic.FaultConn
	nodes   map[uint64]*transportquic.Transport
	cut     map[[2]uint64]bool
	loss    float64
}

func newQUICNetwork(t testing.TB) *quicNetwork {
	seed := uint64(time.Now().UnixNano())
	n := &quicNetwork{
		t: t, seed: seed,
		addrs:   map[uint64]*net.UDPAddr{},
		keys:    map[uint64]ed25519.PrivateKey{},
		pending: map[uint64]*net.UDPConn{},
		faults:  map[uint64]*transportquic.FaultConn{},
		nodes:   map[uint64]*transportquic.Transport{},
		cut:     map[[2]uint64]bool{},
	}
	t.Cleanup(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if t.Failed() {
			t.Logf("fault injection seed: %d", seed)
			for id, tr := range n.nodes {
				t.Logf("node %d transport: %+v", id, tr.Stats())
			}
		}
		for _, c := range n.pending {
			c.Close()
		}
	})
	return n
}

// Peer implements clustertest.Network.
func (n *quicNetwork) Peer(id uint64) raftcore.Peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ensureLocked(id)
	return raftcore.Peer{ID: id, Addr: n.addrs[id].String(), Key: transportquic.PublicKey(n.keys[id])}
}

func (n *quicNetwork) ensureLocked(id uint64) {
	if _, ok := n.addrs[id]; ok {
		return
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		n.t.Fatal(err)
	}
	key, err := transportquic.GenerateIdentity()
	if err != nil {
		n.t.Fatal(err)
	}
	n.addrs[id] = udp.LocalAddr().(*net.UDPAddr)
	n.keys[id] = key
	n.pending[id] = udp
}

// Transport implements clustertest.Network: a new transport on the node's
// fixed address, so a restarted node is found where it was.
func (n *quicNetwork) Transport(t testing.TB, id uint64) raftcore.Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ensureLocked(id)
	udp := n.pending[id]
	delete(n.pending, id)
	if udp == nil {
		var err error
		deadline := time.Now().Add(5 * time.Second)
		for udp, err = net.ListenUDP("udp", n.addrs[id]); errors.Is(err, syscall.EADDRINUSE) && time.Now().Before(deadline); udp, err = net.ListenUDP("udp", n.addrs[id]) {
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("node %d: rebinding %v: %v", id, n.addrs[id], err)
		}
	}
	var pc net.PacketConn = udp
	if !n.plain {
		fault := transportquic.NewFaultConn(udp, n.seed+id)
		fault.SetLoss(n.loss)
		for link := range n.cut {
			if link[0] == id {
				fault.Partition(n.addrs[link[1]])
			}
		}
		n.faults[id] = fault
		pc = fault
	}
	tr, err := transportquic.New(transportquic.Config{
		NodeID:           id,
		Identity:         n.keys[id],
		PacketConn:       pc,
		HandshakeTimeout: time.Second,
		IdleTimeout:      10 * time.Second,
		MinRedialDelay:   10 * time.Millisecond,
		MaxRedialDelay:   200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("node %d: %v", id, err)
	}
	n.nodes[id] = tr
	return tr
}

// Partition implements clustertest.Network.
func (n *quicNetwork) Partition(groups ...[]uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, a := range groups {
		for j, b := range groups {
			if i == j {
				continue
			}
			for _, x := range a {
				for _, y := range b {
					n.ensureLocked(x)
					n.ensureLocked(y)
					n.cut[[2]uint64{x, y}] = true
					if f := n.faults[x]; f != nil {
						f.Partition(n.addrs[y])
					}
				}
			}
		}
	}
}

// Heal implements clustertest.Network.
func (n *quicNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	for _, f := range n.faults {
		f.Heal()
	}
}

// SetLoss makes every node drop that share of its outgoing packets.
func (n *quicNetwork) SetLoss(rate float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loss = rate
	for _, f := range n.faults {
		f.SetLoss(rate)
	}
}

func newKVCluster(t *testing.T, net *quicNetwork, n int, configure func(*raftcore.Config)) *clustertest.Cluster[clustertest.KVCommand, clustertest.KVResult] {
	opts := clustertest.Options{NewNetwork: func(testing.TB) clustertest.Network { return net }, Configure: configure, Short: true}
	return clustertest.NewCluster(t, opts, n,
		func() raftcore.StateMachine[clustertest.KVCommand, clustertest.KVResult] { return clustertest.NewKV() },
		clustertest.JSONCodec[clustertest.KVCommand]{})
}

func TestClusterScenariosOverQUIC(t *testing.T) {
	clustertest.Run(t, clustertest.Options{
		NewNetwork: func(t testing.TB) clustertest.Network { return newQUICNetwork(t) },
		Short:      true,
	})
}

func TestClusterCommitsUnderTenPercentLoss(t *testing.T) {
	network := newQUICNetwork(t)
	c := newKVCluster(t, network, 3, nil)
	c.Leader()
	network.SetLoss(0.10)
	var last uint64
	for i := range 100 {
		res, err := proposeWithRetry(t, c, clustertest.KVCommand{Op: "put", Key: fmt.Sprintf("k%d", i), Value: "v"})
		if err != nil {
			t.Fatalf("put %d under 10%% loss: %v", i, err)
		}
		last = res.Index
	}
	c.WaitApplied(last)
	for _, id := range c.Running() {
		n := c.Node(id)
		_ = n.ReadStale(func() error {
			if got := len(n.SM.(*clustertest.KV).Data); got != 100 {
				t.Errorf("node %d applied %d keys, want 100", id, got)
			}
			return nil
		})
	}
}

// proposeWithRetry proposes on the current leader, retrying on a lost
// leadership or a proposal dropped while the cluster re-elects.
func proposeWithRetry(t *testing.T, c *clustertest.Cluster[clustertest.KVCommand, clustertest.KVResult], cmd clustertest.KVCommand) (clustertest.KVResult, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.Leader().Propose(clustertest.Context(t, 5*time.Second), cmd)
		if err == nil || time.Now().After(deadline) {
			return res, err
		}
	}
}

// blobs is a state machine holding opaque values. A command is a seed and a
// size, applied as that many pseudo-random bytes, so a large state is built
// with a few small proposals and still costs its full size to snapshot,
// stream and restore.
type blobs struct {
	values [][]byte
	size   int
}

func growCommand(seed uint64, size uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, seed), size)
}

func (b *blobs) Apply(index uint64, cmd []byte) uint64 {
	if len(cmd) == 12 {
		b.add(transporttest.RandomBytes(binary.BigEndian.Uint64(cmd), int(binary.BigEndian.Uint32(cmd[8:]))))
	}
	return index
}

func (b *blobs) add(v []byte) {
	b.values = append(b.values, v)
	b.size += len(v)
}

func (b *blobs) Snapshot(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var hdr []byte
	for _, v := range b.values {
		hdr = binary.AppendUvarint(hdr[:0], uint64(len(v)))
		if _, err := bw.Write(hdr); err != nil {
			return err
		}
		if _, err := bw.Write(v); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func (b *blobs) Restore(r io.Reader) error {
	br := bufio.NewReader(r)
	b.values, b.size = nil, 0
	for {
		n, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return nil
		}
		if err != nil || n > 64<<20 {
			return fmt.Errorf("blobs: corrupt snapshot: %v", err)
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(br, v); err != nil {
			return fmt.Errorf("blobs: corrupt snapshot: %w", err)
		}
		b.add(v)
	}
}

func TestSnapshotOf64MiBReachesNewLearner(t *testing.T) {
	network := newQUICNetwork(t)
	network.plain = true
	opts := clustertest.Options{
		NewNetwork: func(testing.TB) clustertest.Network { return network },
		Configure: func(cfg *raftcore.Config) {
			cfg.MaxLogEntries = 1000
			cfg.TrailingLogEntries = 1
			// Installing 64 MiB on a loaded machine (or under the race
			// detector) takes seconds: keep leadership stable meanwhile.
			cfg.ElectionTimeout = 3 * time.Second
			cfg.HeartbeatInterval = 100 * time.Millisecond
		},
	}
	c := clustertest.NewCluster(t, opts, 3, func() raftcore.StateMachine[[]byte, uint64] { return &blobs{} }, codec.Bytes{})
	const blobSize, count = 16 << 20, 4
	seed := transporttest.NewSeed(t)
	var last uint64
	for i := range uint64(count) {
		clustertest.WaitFor(t, "blob proposed", 30*time.Second, func() bool {
			index, err := c.Leader().Propose(clustertest.Context(t, 10*time.Second), growCommand(seed+i, blobSize))
			last = index
			return err == nil
		})
	}
	c.WaitApplied(last)
	lead := c.Leader()
	if _, err := lead.Snapshot(clustertest.Context(t, 30*time.Second)); err != nil {
		t.Fatalf("snapshot: %v", err)
	}

	learner := c.Start(4, true)
	events := learner.Subscribe(clustertest.Context(t, 2*time.Minute))
	start := time.Now()
	clustertest.WaitFor(t, "learner added", 30*time.Second, func() bool {
		return c.Leader(1, 2, 3).AddLearner(clustertest.Context(t, 10*time.Second), network.Peer(4)) == nil
	})
	for installed := false; !installed; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("learner's event stream ended before a snapshot was installed")
			}
			installed = ev.Type == raftcore.EventSnapshotInstalled
		case <-time.After(time.Minute):
			t.Fatal("learner did not install the snapshot")
		}
	}
	t.Logf("64 MiB snapshot installed on the learner %v after it was added", time.Since(start).Round(time.Millisecond))
	_ = learner.ReadStale(func() error {
		state := learner.SM.(*blobs)
		if state.size != count*blobSize {
			t.Fatalf("learner holds %d bytes, want %d", state.size, count*blobSize)
		}
		for i, v := range state.values {
			if !bytes.Equal(v, transporttest.RandomBytes(seed+uint64(i), blobSize)) {
				t.Errorf("learner's blob %d differs from the leader's", i)
			}
		}
		return nil
	})
}
