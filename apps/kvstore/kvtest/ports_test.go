package kvtest

import (
	"fmt"
	"net"
	"testing"
)

// The ports are on loopback and can be bound at once, UDP and TCP.
func TestFreePortsCanBeBound(t *testing.T) {
	udp, tcp := FreeUDPPort(t), FreeTCPPort(t)
	if udp <= 0 || udp > 65535 || tcp <= 0 || tcp > 65535 {
		t.Fatalf("ports %d (udp) and %d (tcp) are out of range", udp, tcp)
	}
	pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", udp))
	if err != nil {
		t.Fatalf("bind the free UDP port: %v", err)
	}
	pc.Close()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", tcp))
	if err != nil {
		t.Fatalf("bind the free TCP port: %v", err)
	}
	ln.Close()
}
