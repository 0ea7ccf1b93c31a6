package transportquic

import (
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Loopback tests do not need the large socket buffers quic-go asks for.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	goleak.VerifyTestMain(m)
}

// testConfig returns a configuration with timeouts short enough for tests.
func testConfig(t testing.TB, id uint64) Config {
	t.Helper()
	key, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		NodeID:           id,
		Identity:         key,
		HandshakeTimeout: 2 * time.Second,
		IdleTimeout:      10 * time.Second,
		WriteTimeout:     5 * time.Second,
		MinRedialDelay:   10 * time.Millisecond,
		MaxRedialDelay:   300 * time.Millisecond,
	}
}

// newTestTransport creates a transport on a loopback FaultConn, closed when
// the test ends. edit, when not nil, adjusts the configuration first.
func newTestTransport(t testing.TB, id uint64, edit func(*Config)) (*Transport, *FaultConn) {
	t.Helper()
	cfg := testConfig(t, id)
	if edit != nil {
		edit(&cfg)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node %d fault injection seed: %d", id, seed)
		}
	})
	fault := NewFaultConn(udp, seed)
	cfg.PacketConn = fault
	tr, err := New(cfg)
	if err != nil {
		udp.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr, fault
}

// newPlainTransport creates a transport on a plain UDP socket, closed when
// the test ends: quic-go's batched and segmented socket I/O only works on a
// *net.UDPConn, not on a FaultConn.
func newPlainTransport(tb testing.TB, id uint64) *Transport {
	tb.Helper()
	tr, err := New(testConfig(tb, id))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tr.Close() })
	return tr
}

// link makes every transport a member of every other one.
func link(t testing.TB, trs ...*Transport) {
	t.Helper()
	for _, a := range trs {
		for _, b := range trs {
			if a != b {
				if err := a.AddPeer(b.Self()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
