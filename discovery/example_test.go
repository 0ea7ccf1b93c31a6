package discovery_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/jangada-io/jangada/discovery"
)

// A ticket is made with the cluster secret (jangadactl ticket create does
// this) and checked by every member with the same secret.
func ExampleNewTicket() {
	secret := []byte("an example cluster secret of 32+ bytes")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t, err := discovery.NewTicket(secret, 4, discovery.RoleVoter, time.Hour, []string{"10.0.0.1:7001"}, now)
	if err != nil {
		panic(err)
	}
	parsed, err := discovery.ParseTicket(t.String())
	if err != nil {
		panic(err)
	}
	fmt.Println("node", parsed.NodeID, "as a", parsed.Role, "until", parsed.NotAfter.UTC().Format(time.Kitchen))
	fmt.Println("valid now:", parsed.Verify([][]byte{secret}, now, discovery.DefaultClockSkew) == nil)
	err = parsed.Verify([][]byte{secret}, now.Add(2*time.Hour), discovery.DefaultClockSkew)
	fmt.Println("two hours later, expired:", errors.Is(err, discovery.ErrTicketExpired))
	err = parsed.Verify([][]byte{[]byte("another cluster's secret of 32+ bytes")}, now, discovery.DefaultClockSkew)
	fmt.Println("in another cluster, foreign:", errors.Is(err, discovery.ErrTicketForeign))
	// Output:
	// node 4 as a voter until 4:04AM
	// valid now: true
	// two hours later, expired: true
	// in another cluster, foreign: true
}

func ExampleParseSource() {
	for _, s := range []string{
		"static:10.0.0.1:7001,10.0.0.2:7001",
		"dns-srv:_raft._udp.kv.default.svc.cluster.local",
		"dns-srv:_raft._udp.kv.test@127.0.0.1:5353",
		"carrier-pigeon:home",
	} {
		src, err := discovery.ParseSource(s)
		if err != nil {
			fmt.Println("error:", errors.Is(err, discovery.ErrInvalid))
			continue
		}
		fmt.Println(src)
	}
	// Output:
	// static:10.0.0.1:7001,10.0.0.2:7001
	// dns-srv:_raft._udp.kv.default.svc.cluster.local
	// dns-srv:_raft._udp.kv.test@127.0.0.1:5353
	// error: true
}
