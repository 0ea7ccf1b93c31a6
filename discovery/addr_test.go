package discovery

import "testing"

func TestReachableAddrReplacesOnlyAnUnspecifiedHost(t *testing.T) {
	for _, tc := range []struct{ addr, seen, want string }{
		{"0.0.0.0:7001", "10.1.2.3:7001", "10.1.2.3:7001"},
		{"[::]:7001", "[fd00::5]:40000", "[fd00::5]:7001"},
		{":7001", "10.1.2.3:5555", "10.1.2.3:7001"},
		{"10.0.0.9:7001", "10.1.2.3:7001", "10.0.0.9:7001"},
		{"kv-0.kv:7001", "10.1.2.3:7001", "kv-0.kv:7001"},
		{"0.0.0.0:7001", "", "0.0.0.0:7001"},
		{"node-1", "node-2", "node-1"},
	} {
		if got := reachableAddr(tc.addr, tc.seen); got != tc.want {
			t.Errorf("reachableAddr(%q, %q) = %q, want %q", tc.addr, tc.seen, got, tc.want)
		}
	}
}

func TestListensAt(t *testing.T) {
	for _, tc := range []struct {
		listen, addr string
		want         bool
	}{
		{"127.0.0.1:7001", "127.0.0.1:7001", true},
		{"127.0.0.1:7001", "127.0.0.1:7002", false},
		{"0.0.0.0:7001", "10.0.0.4:7001", true},
		{"0.0.0.0:7001", "10.0.0.4:7002", false},
		{"[::]:7001", "[fd00::1]:7001", true},
		{"10.0.0.5:7001", "10.0.0.4:7001", false},
	} {
		if got := listensAt(tc.listen, tc.addr); got != tc.want {
			t.Errorf("listensAt(%q, %q) = %v, want %v", tc.listen, tc.addr, got, tc.want)
		}
	}
}
