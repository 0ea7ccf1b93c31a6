package kvtest

import (
	"net"
	"strconv"
	"testing"
)

// FreeUDPPort is the port of FreeUDPAddr, for configurations that take a
// host and a port apart.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	return addrPort(t, FreeUDPAddr(t))
}

// FreeTCPPort is the port of FreeTCPAddr.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	return addrPort(t, FreeTCPAddr(t))
}

func addrPort(t testing.TB, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
