package discovery_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// dnsTarget is one SRV target of the test zone.
type dnsTarget struct {
	host string
	port uint16
	key  []byte // published in TXT when set
}

// serveDNS answers SRV, A and TXT queries for name with targets, on a
// loopback UDP port, until the test ends. It returns the server's address.
func serveDNS(t *testing.T, name string, targets []dnsTarget) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		for _, q := range r.Question {
			switch {
			case q.Qtype == dns.TypeSRV && strings.EqualFold(q.Name, dns.Fqdn(name)):
				for _, tg := range targets {
					m.Answer = append(m.Answer, &dns.SRV{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 5},
						Priority: 0, Weight: 10, Port: tg.port, Target: dns.Fqdn(tg.host)})
				}
			case q.Qtype == dns.TypeA:
				for _, tg := range targets {
					if strings.EqualFold(q.Name, dns.Fqdn(tg.host)) {
						m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(127, 0, 0, 1)})
					}
				}
			case q.Qtype == dns.TypeTXT:
				for _, tg := range targets {
					if strings.EqualFold(q.Name, dns.Fqdn(tg.host)) && tg.key != nil {
						m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 5},
							Txt: []string{discovery.TXTKeyPrefix + mgmt.FormatKey(tg.key)}})
					}
				}
			}
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("DNS server did not start")
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestDNSSRVSourceListsTargetsWithTheirKeys(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 7
	addr := serveDNS(t, "_raft._udp.kv.test", []dnsTarget{{host: "kv-0.kv.test", port: 7001, key: key}, {host: "kv-1.kv.test", port: 7002}})
	src, err := discovery.ParseSource("dns-srv:_raft._udp.kv.test@" + addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := src.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b raftcore.Peer) int { return strings.Compare(a.Addr, b.Addr) })
	want := []raftcore.Peer{{Addr: "127.0.0.1:7001", Key: key}, {Addr: "127.0.0.1:7002"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("discovered %v, want %v", got, want)
	}
	empty, err := discovery.ParseSource("dns-srv:_none._udp.kv.test@" + addr)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := empty.Discover(ctx); err != nil || len(got) != 0 {
		t.Fatalf("a name without records: %v, %v; want nothing and no error", got, err)
	}
}

// TestClusterFormsFromDNSSRVAloneAndATicketGrowsIt: three nodes whose only
// knowledge is an SRV name form one cluster (bootstrap-expect 3); a fourth
// joins with a voter ticket and is promoted by the autopilot.
func TestClusterFormsFromDNSSRVAloneAndATicketGrowsIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	network, _ := transportmem.NewNetwork(transportmem.NetworkConfig{})
	addrs := []string{"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"}
	var targets []dnsTarget
	for i := range addrs {
		targets = append(targets, dnsTarget{host: fmt.Sprintf("kv-%d.kv.default.svc.cluster.local", i), port: uint16(7101 + i)})
	}
	dnsAddr := serveDNS(t, "_raft._udp.kv.default.svc.cluster.local", targets)
	src, err := discovery.ParseSource("dns-srv:_raft._udp.kv.default.svc.cluster.local@" + dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	nodes, out := runFormation(t, ctx, network, rand.New(rand.NewPCG(seed, 0)), addrs, src, 3)
	checkOneCluster(t, nodes, out, 3)

	n4 := newTestNode(t, network, 4, "127.0.0.1:7104", [][]byte{testSecret})
	tk := ticket(t, testSecret, 4, discovery.RoleVoter, time.Hour)
	if err := joinWithTicket(ctx, n4, tk); err != nil {
		t.Fatal(err)
	}
	if err := discovery.Promote(ctx, discovery.PromoteConfig{Transport: n4.tr, Node: n4.node, Ticket: tk, RetryInterval: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "four voters", func() error { return wantRoles(nodes[0], 4, 0) })
}
