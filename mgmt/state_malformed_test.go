package mgmt_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/codec"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// A state copy that ends early, claims another size or ends with an error
// is never read as a whole one: Read fails instead of returning io.EOF.
func TestBrokenStateCopiesFailTheReader(t *testing.T) {
	frame := func(kind byte, body string) []byte {
		return codec.AppendFrame(nil, append([]byte{1, kind}, body...))
	}
	const (
		kindResponse = 2
		kindData     = 4
	)
	status := frame(kindResponse, `{"node":1,"status":{"id":1,"role":"leader","leader":1,"term":1,"commit_index":1,"applied_index":1,"snapshot_index":0,"members":[]}}`)
	head := frame(kindResponse, `{"node":1,"state":{"node":1,"index":5,"term":1,"members":[]}}`)
	data := frame(kindData, "abc")
	tests := []struct {
		name string
		tail []byte
		want error
		text string
	}{
		{"no end frame", nil, io.ErrUnexpectedEOF, "ended without its end frame"},
		{"wrong size", frame(kindResponse, `{"node":1,"size":4}`), mgmt.ErrProtocol, "server sent 4"},
		{"server error", frame(kindResponse, `{"node":1,"error":{"code":"internal","message":"snapshot checksum"}}`), mgmt.ErrInternal, "snapshot checksum"},
		{"bad checksum", append(data[:len(data)-1:len(data)-1], data[len(data)-1]^1), mgmt.ErrProtocol, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			network := newPipeNetwork()
			server := network.transport(raftcore.Peer{ID: 1, Addr: "node-1"})
			_ = server.HandleStream(mgmt.Protocol, func(_ context.Context, st raftcore.Stream) {
				defer st.Close()
				req, err := codec.NewFrameReader(st, 1<<20).ReadFrame()
				if err != nil {
					return
				}
				if strings.Contains(string(req), `"op":"status"`) {
					_, _ = st.Write(status)
					return
				}
				_, _ = st.Write(append(append(append([]byte(nil), head...), data...), tt.tail...))
			})
			tool := network.transport(raftcore.Peer{Addr: "tool", Key: adminKey()})
			client, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: "node-1"}}, mgmt.ClientConfig{Transport: tool})
			if err != nil {
				t.Fatal(err)
			}
			r, err := client.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			_, err = io.ReadAll(r)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("read: %v; want %v naming %q", err, tt.want, tt.text)
			}
		})
	}
}
