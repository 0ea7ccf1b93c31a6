package integration

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type kvNode = raftcore.Node[clustertest.KVCommand, clustertest.KVResult]

// transport is what a node needs from its transport.
type transport interface {
	raftcore.Transport
	raftcore.StreamTransport
}

// setup names one way of running a cluster: a transport and, for QUIC, how
// members and admins authenticate.
type setup struct {
	name   string
	quic   bool
	secret bool // QUIC cluster-secret mode (else keys pinned in membership)
}

var setups = []setup{
	{name: "mem"},
	{name: "quic-pinned", quic: true},
	{name: "quic-secret", quic: true, secret: true},
}

// cluster is a set of nodes, each serving jangada/mgmt/1.
type cluster struct {
	t      *testing.T
	setup  setup
	net    *transportmem.Network
	secret []byte
	admin  ed25519.PrivateKey
	// operator is trusted by the QUIC transports (it may connect) but is
	// neither an admin nor a member.
	operator ed25519.PrivateKey

	mu      sync.Mutex
	members map[uint64]*member
	nextCtl uint64
}

type member struct {
	id   uint64
	peer raftcore.Peer
	key  ed25519.PrivateKey
	node *kvNode
	srv  *mgmt.Server
}

func newKey(t testing.TB) ed25519.PrivateKey {
	k, err := transportquic.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) []byte { return []byte(k.Public().(ed25519.PublicKey)) }

func newCluster(t *testing.T, s setup, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, setup: s, admin: newKey(t), operator: newKey(t), members: map[uint64]*member{}, nextCtl: 1 << 40}
	if s.secret {
		c.secret = []byte("a cluster secret of at least 32 bytes, for tests only")
	}
	if !s.quic {
		var err error
		if c.net, err = transportmem.NewNetwork(transportmem.NetworkConfig{Seed: 1}); err != nil {
			t.Fatal(err)
		}
	}
	type pending struct {
		tr  transport
		key ed25519.PrivateKey
	}
	var peers []raftcore.Peer
	trs := map[uint64]pending{}
	for id := uint64(1); id <= uint64(n); id++ {
		key := newKey(t)
		tr, peer := c.transport(id, key)
		peers = append(peers, peer)
		trs[id] = pending{tr, key}
	}
	for _, p := range peers {
		c.start(p, trs[p.ID].tr, trs[p.ID].key, peers, false)
	}
	t.Cleanup(c.closeAll)
	c.leader()
	return c
}

// transport makes the transport of node id.
func (c *cluster) transport(id uint64, key ed25519.PrivateKey) (transport, raftcore.Peer) {
	c.t.Helper()
	if !c.setup.quic {
		p := raftcore.Peer{ID: id, Addr: fmt.Sprintf("mem-%d", id), Key: pub(key)}
		tr, err := c.net.Transport(p)
		if err != nil {
			c.t.Fatal(err)
		}
		return tr, p
	}
	tr, err := transportquic.New(transportquic.Config{
		NodeID: id, Identity: key, ListenAddr: "127.0.0.1:0",
		TrustedKeys:   []ed25519.PublicKey{ed25519.PublicKey(pub(c.admin)), ed25519.PublicKey(pub(c.operator))},
		ClusterSecret: c.secret,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	p := raftcore.Peer{ID: id, Addr: tr.Addr().String()}
	if !c.setup.secret {
		p.Key = pub(key)
	}
	return tr, p
}

func (c *cluster) start(p raftcore.Peer, tr transport, key ed25519.PrivateKey, peers []raftcore.Peer, join bool) *member {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID: p.ID, Peers: peers, Join: join, Preset: raftcore.Testing,
		Transport: tr, LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, clustertest.NewKV(), clustertest.JSONCodec[clustertest.KVCommand]{})
	if err != nil {
		c.t.Fatal(err)
	}
	srv, err := mgmt.Mount(tr, node, mgmt.ServerConfig{
		AdminKeys:              [][]byte{pub(c.admin)},
		SecretHoldersAreAdmins: c.setup.secret,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	m := &member{id: p.ID, peer: p, key: key, node: node, srv: srv}
	c.mu.Lock()
	c.members[p.ID] = m
	c.mu.Unlock()
	return m
}

// join starts node id with an empty log, waiting to be added; it knows where
// the current members are.
func (c *cluster) join(id uint64) *member {
	key := newKey(c.t)
	tr, p := c.transport(id, key)
	var peers []raftcore.Peer
	for _, m := range c.running() {
		peers = append(peers, m.peer)
	}
	return c.start(p, tr, key, peers, true)
}

func (c *cluster) running() []*member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*member
	for id := uint64(1); id < 100; id++ {
		if m := c.members[id]; m != nil {
			out = append(out, m)
		}
	}
	return out
}

func (c *cluster) member(id uint64) *member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id]
}

// stop closes node id and its server.
func (c *cluster) stop(id uint64) {
	c.mu.Lock()
	m := c.members[id]
	delete(c.members, id)
	c.mu.Unlock()
	if m == nil {
		return
	}
	_ = m.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.node.Close(ctx)
}

func (c *cluster) closeAll() {
	for _, m := range c.running() {
		c.stop(m.id)
	}
}

// leader waits for the running members to agree on a leader among them.
func (c *cluster) leader() *member {
	c.t.Helper()
	var lead *member
	clustertest.WaitFor(c.t, "a leader", 10*time.Second, func() bool {
		lead = nil
		ms := c.running()
		for _, m := range ms {
			if m.node.IsLeader() {
				lead = m
			}
		}
		if lead == nil {
			return false
		}
		for _, m := range ms {
			if st := m.node.Status(); st.Role != raftcore.RoleNone && st.Leader != lead.id {
				return false
			}
		}
		return true
	})
	return lead
}

// endpoints returns the running members' endpoints as a client knows them.
func (c *cluster) endpoints(ids ...uint64) []raftcore.Peer {
	var out []raftcore.Peer
	for _, m := range c.running() {
		if len(ids) > 0 && !contains(ids, m.id) {
			continue
		}
		out = append(out, raftcore.Peer{Addr: m.peer.Addr, Key: m.peer.Key})
	}
	return out
}

func contains(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// keyedEndpoints returns the running members' endpoints with their keys,
// for a client that does not hold the cluster secret.
func (c *cluster) keyedEndpoints() []raftcore.Peer {
	var out []raftcore.Peer
	for _, m := range c.running() {
		out = append(out, raftcore.Peer{Addr: m.peer.Addr, Key: pub(m.key)})
	}
	return out
}

// clientTransport returns a transport that proves key (and, in
// cluster-secret mode with secret set, the cluster secret).
func (c *cluster) clientTransport(key ed25519.PrivateKey, withSecret bool) raftcore.StreamTransport {
	c.t.Helper()
	c.mu.Lock()
	c.nextCtl++
	id := c.nextCtl
	c.mu.Unlock()
	if !c.setup.quic {
		tr, err := c.net.Transport(raftcore.Peer{ID: id, Addr: fmt.Sprintf("ctl-%d", id), Key: pub(key)})
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(func() { _ = tr.Close() })
		return tr
	}
	cfg := transportquic.Config{NodeID: id, Identity: key, ListenAddr: "127.0.0.1:0"}
	if withSecret {
		cfg.ClusterSecret = c.secret
	}
	tr, err := transportquic.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// adminClient dials the running members as an admin.
func (c *cluster) adminClient(ctx context.Context) *mgmt.Client {
	c.t.Helper()
	cl, err := mgmt.Dial(ctx, c.endpoints(), mgmt.ClientConfig{Transport: c.clientTransport(c.admin, true)})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitCaughtUp waits until the leader reports member id within lag entries
// of its commit index.
func waitCaughtUp(t *testing.T, ctx context.Context, cl *mgmt.Client, id uint64) {
	t.Helper()
	clustertest.WaitFor(t, fmt.Sprintf("member %d caught up", id), 10*time.Second, func() bool {
		st, err := cl.Status(ctx)
		if err != nil {
			return false
		}
		for _, m := range st.Members {
			if m.ID == id && m.Progress && m.Match > 0 && m.Lag == 0 {
				return true
			}
		}
		return false
	})
}
