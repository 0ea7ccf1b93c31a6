package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// FuzzParseTicket: any string either fails to parse with ErrInvalid or
// parses into a ticket whose printable form parses back the same.
func FuzzParseTicket(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	t, _ := NewTicket(secret, 3, RoleVoter, time.Hour, []string{"127.0.0.1:7001", "[::1]:7002"}, time.Unix(1e9, 0))
	f.Add(t.String())
	f.Add("jt1")
	f.Add("jt1AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := ParseTicket(s)
		if err != nil {
			return
		}
		again, err := ParseTicket(tk.String())
		if err != nil || again.String() != tk.String() {
			t.Fatalf("%q parsed, but its printable form %q does not parse back: %v", s, tk.String(), err)
		}
		_ = tk.Verify([][]byte{secret}, time.Now(), time.Minute)
	})
}

// memStream is a stream whose input is fixed.
type memStream struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (s *memStream) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *memStream) Write(p []byte) (int, error) { return s.out.Write(p) }
func (s *memStream) Close() error                { return nil }
func (s *memStream) CloseWrite() error           { return nil }
func (s *memStream) Remote() raftcore.Peer {
	return raftcore.Peer{ID: 9, Addr: "remote", Key: make([]byte, 32)}
}

// FuzzServerRequest: whatever a peer sends, a fresh node's server answers
// with one well-formed frame and never panics.
func FuzzServerRequest(f *testing.F) {
	for _, req := range []request{{Op: opProbe}, {Op: opLock, From: 1, Set: []wirePeer{{ID: 1, Addr: "a"}, {ID: 2, Addr: "b"}}},
		{Op: opUnlock, From: 1}, {Op: opJoin, From: 9, Addr: "x"}, {Op: opPromote, From: 9}, {Op: "nonsense"}} {
		body, _ := json.Marshal(req)
		f.Add(codec.AppendFrame(nil, append([]byte{wireVersion}, body...)))
	}
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := &Server{cfg: ServerConfig{Self: raftcore.Peer{ID: 2, Addr: "b"}, Authorized: func(raftcore.Stream) bool { return true }}.withDefaults()}
		srv.ctx, srv.cancel = context.WithCancel(context.Background())
		defer srv.cancel()
		srv.pilot = newAutopilot(srv.cfg.Autopilot, srv.cfg.Now, srv.cfg.Logger)
		s := &memStream{in: bytes.NewReader(data)}
		srv.serve(context.Background(), s)
		var resp response
		if err := readFrame(bytes.NewReader(s.out.Bytes()), &resp); err != nil {
			t.Fatalf("the answer is not a frame: %v", err)
		}
	})
}
