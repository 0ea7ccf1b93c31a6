package discovery

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Source finds the QUIC endpoints of nodes that may form or already form a
// cluster. Endpoints carry an address and, when the source knows it, the
// node's key (Peer.ID is 0: ids are learnt by asking the node).
type Source interface {
	// Discover returns the endpoints known now; an empty list is not an
	// error. It returns an error only when the source could not be read.
	Discover(ctx context.Context) ([]raftcore.Peer, error)
	// String names the source as ParseSource reads it.
	String() string
}

// ParseSource reads a source:
//
//	static:HOST:PORT[,HOST:PORT…]   a fixed list (KEY@HOST:PORT pins a key)
//	dns-srv:NAME[@HOST:PORT]        the SRV records of NAME, asked of the
//	                                resolver at HOST:PORT (default: the system's)
//
// NAME is what a Kubernetes headless Service publishes, for example
// _raft._udp.kv.default.svc.cluster.local. Errors wrap ErrInvalid.
func ParseSource(s string) (Source, error) {
	kind, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("%w: source %q: want static:HOST:PORT[,HOST:PORT…] or dns-srv:NAME[@HOST:PORT]", ErrInvalid, s)
	}
	switch kind {
	case "static":
		eps, err := mgmt.ParseEndpoints(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: source %q: %w", ErrInvalid, s, err)
		}
		for i, ep := range eps {
			if ep.ID != 0 {
				return nil, fmt.Errorf("%w: source %q: endpoint %d names an id; ids are learnt from the nodes", ErrInvalid, s, i+1)
			}
			if _, _, err := net.SplitHostPort(ep.Addr); err != nil {
				return nil, fmt.Errorf("%w: source %q: %v", ErrInvalid, s, err)
			}
		}
		return StaticSource(eps), nil
	case "dns-srv":
		name, resolver, _ := strings.Cut(rest, "@")
		if name == "" {
			return nil, fmt.Errorf("%w: source %q: no record name", ErrInvalid, s)
		}
		if resolver != "" {
			if _, _, err := net.SplitHostPort(resolver); err != nil {
				return nil, fmt.Errorf("%w: source %q: resolver: %v", ErrInvalid, s, err)
			}
		}
		return &DNSSRVSource{Name: name, Resolver: resolver}, nil
	}
	return nil, fmt.Errorf("%w: source %q: unknown kind %q (static or dns-srv)", ErrInvalid, s, kind)
}

// StaticSource is a fixed list of endpoints.
type StaticSource []raftcore.Peer

// Discover implements Source.
func (s StaticSource) Discover(context.Context) ([]raftcore.Peer, error) {
	return slices.Clone(s), nil
}

func (s StaticSource) String() string {
	parts := make([]string, 0, len(s))
	for _, p := range s {
		if len(p.Key) > 0 {
			parts = append(parts, mgmt.FormatKey(p.Key)+"@"+p.Addr)
			continue
		}
		parts = append(parts, p.Addr)
	}
	return "static:" + strings.Join(parts, ",")
}

// DNSSRVSource reads the SRV records of Name: each target host and port is
// an endpoint. A target with a TXT record "jangada-key=KEY" (KEY as
// mgmt.FormatKey prints it) has that key pinned; without one the endpoint
// is keyless, which suffices in cluster-secret mode (Kubernetes publishes
// no TXT records).
type DNSSRVSource struct {
	// Name is the SRV record's name, e.g. _raft._udp.kv.default.svc.cluster.local.
	Name string
	// Resolver is the DNS server's HOST:PORT. Default: the system resolver.
	Resolver string
}

// TXTKeyPrefix starts the TXT record that pins a target's key.
const TXTKeyPrefix = "jangada-key="

func (s *DNSSRVSource) resolver() *net.Resolver {
	if s.Resolver == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Resolver)
	}}
}

// Discover implements Source. A name without records yields no endpoints.
func (s *DNSSRVSource) Discover(ctx context.Context) ([]raftcore.Peer, error) {
	r := s.resolver()
	_, srvs, err := r.LookupSRV(ctx, "", "", s.Name)
	if err != nil {
		if dnsErr, ok := err.(*net.DNSError); ok && dnsErr.IsNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("discovery: SRV %s: %w", s.Name, err)
	}
	var out []raftcore.Peer
	for _, srv := range srvs {
		hosts, err := r.LookupHost(ctx, srv.Target)
		if err != nil || len(hosts) == 0 {
			continue // a pod without an address yet
		}
		p := raftcore.Peer{Addr: net.JoinHostPort(hosts[0], strconv.Itoa(int(srv.Port)))}
		if txts, err := r.LookupTXT(ctx, srv.Target); err == nil {
			for _, txt := range txts {
				if k, ok := strings.CutPrefix(txt, TXTKeyPrefix); ok {
					if key, err := mgmt.ParseKey(k); err == nil {
						p.Key = key
					}
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *DNSSRVSource) String() string {
	if s.Resolver != "" {
		return "dns-srv:" + s.Name + "@" + s.Resolver
	}
	return "dns-srv:" + s.Name
}
