package mgmt_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jangada-io/jangada/codec"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// TestMalformedRequestsLoseTheirStreamOnly sends requests that break the
// protocol in different ways: each is answered "invalid" on its own
// stream, and the server keeps serving.
func TestMalformedRequestsLoseTheirStreamOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	network := newPipeNetwork()
	tr := network.transport(raftcore.Peer{ID: 1, Addr: "node-1"})
	node := startNode(ctx, tr)
	defer node.Close(ctx)
	srv, err := mgmt.Mount(tr, node, mgmt.ServerConfig{AdminKeys: [][]byte{adminKey()}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tool := network.transport(raftcore.Peer{Addr: "tool", Key: adminKey()})

	for name, frame := range map[string][]byte{
		"bad checksum":     {0, 0, 0, 3, 1, 2, 3, 4, 1, 1, '{'},
		"unknown version":  codec.AppendFrame(nil, append([]byte{9, 1}, `{"op":"status"}`...)),
		"wrong kind":       codec.AppendFrame(nil, append([]byte{1, 3}, `{"op":"status"}`...)),
		"not JSON":         codec.AppendFrame(nil, []byte{1, 1, 0xff, 0xfe}),
		"unknown field":    codec.AppendFrame(nil, append([]byte{1, 1}, `{"op":"status","sudo":true}`...)),
		"unknown op":       codec.AppendFrame(nil, append([]byte{1, 1}, `{"op":"format-disk"}`...)),
		"frame too large":  {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"truncated header": {0, 0, 0},
	} {
		st, err := tool.OpenStream(ctx, raftcore.Peer{Addr: "node-1"}, mgmt.Protocol)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, _ = st.Write(frame)
			_ = st.CloseWrite()
		}()
		payload, err := codec.NewFrameReader(st, 1<<20).ReadFrame()
		if err != nil {
			t.Errorf("%s: no answer: %v", name, err)
			st.Close()
			continue
		}
		var resp struct {
			Error *struct {
				Code mgmt.Code `json:"code"`
			} `json:"error"`
		}
		if len(payload) < 2 || payload[0] != 1 || payload[1] != 2 || json.Unmarshal(payload[2:], &resp) != nil || resp.Error == nil || resp.Error.Code != mgmt.CodeInvalid {
			t.Errorf("%s: answer %q, want an invalid-request response", name, payload)
		}
		st.Close()
	}
	client, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: "node-1"}}, mgmt.ClientConfig{Transport: tool})
	if err != nil {
		t.Fatalf("the server stopped serving after malformed requests: %v", err)
	}
	if _, err := client.Status(ctx); err != nil {
		t.Fatal(err)
	}
}
