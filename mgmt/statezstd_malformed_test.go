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

// fakeStateServer answers the status call, and a state call by op with
// the frames answer returns for it.
func fakeStateServer(t *testing.T, answer func(op string) []byte) *mgmt.Client {
	t.Helper()
	network := newPipeNetwork()
	server := network.transport(raftcore.Peer{ID: 1, Addr: "node-1"})
	_ = server.HandleStream(mgmt.Protocol, func(_ context.Context, st raftcore.Stream) {
		defer st.Close()
		req, err := codec.NewFrameReader(st, 1<<20).ReadFrame()
		if err != nil {
			return
		}
		switch {
		case strings.Contains(string(req), `"op":"status"`):
			_, _ = st.Write(stateFrame(2, `{"node":1,"status":{"id":1,"role":"leader","leader":1,"term":1,"commit_index":1,"applied_index":1,"snapshot_index":0,"members":[]}}`))
		case strings.Contains(string(req), `"op":"state-zstd"`):
			_, _ = st.Write(answer("state-zstd"))
		case strings.Contains(string(req), `"op":"state"`):
			_, _ = st.Write(answer("state"))
		}
	})
	tool := network.transport(raftcore.Peer{Addr: "tool", Key: adminKey()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: "node-1"}}, mgmt.ClientConfig{Transport: tool})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func stateFrame(kind byte, body string) []byte {
	return codec.AppendFrame(nil, append([]byte{1, kind}, body...))
}

func joinFrames(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// A server without compressed copies (an older version: unknown operation)
// is asked for an uncompressed one, which StateCompressed returns.
func TestStateCompressedFallsBackToAnUncompressedCopy(t *testing.T) {
	client := fakeStateServer(t, func(op string) []byte {
		if op == "state-zstd" {
			return stateFrame(2, `{"node":1,"error":{"code":"invalid","message":"unknown operation \"state-zstd\""}}`)
		}
		return joinFrames(stateFrame(2, `{"node":1,"state":{"node":1,"index":5,"term":1,"members":[]}}`),
			stateFrame(4, "abc"), stateFrame(2, `{"node":1,"size":3}`))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := client.StateCompressed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil || r.Compressed() || string(data) != "abc" {
		t.Fatalf("fallback copy: compressed %v, %q, %v; want the uncompressed state", r.Compressed(), data, err)
	}
	if _, sum := r.StateDigest(); sum != nil {
		t.Fatalf("an uncompressed copy has a state checksum %x", sum)
	}
}

// A compressed copy with a malformed frame, a frame of the uncompressed
// kind, or an end without the state's checksum fails the reader; so does
// an answer that is not compressed.
func TestBrokenCompressedStateCopiesFailTheReader(t *testing.T) {
	head := stateFrame(2, `{"node":1,"state":{"node":1,"index":5,"term":1,"members":[],"compression":"zstd"}}`)
	data := stateFrame(5, "\x00\x00\x00\x00\x00\x00\x00\x03abc")
	tests := []struct {
		name   string
		frames []byte
		text   string
	}{
		{"short data frame", joinFrames(head, stateFrame(5, "abc")), "compressed state frame of 5 bytes"},
		{"uncompressed data", joinFrames(head, stateFrame(4, "abc")), "frame kind 4"},
		{"no checksum", joinFrames(head, data, stateFrame(2, `{"node":1,"size":3,"state_size":3}`)), "ended with size 3"},
		{"wrong size", joinFrames(head, data, stateFrame(2, `{"node":1,"size":4,"state_size":3,"state_sha256":"`+strings.Repeat("00", 32)+`"}`)), "server sent 4"},
		{"not compressed", joinFrames(stateFrame(2, `{"node":1,"state":{"node":1,"index":5,"term":1,"members":[]}}`)), `answered with compression ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fakeStateServer(t, func(string) []byte { return tt.frames })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := client.StateCompressed(ctx)
			if err == nil {
				defer r.Close()
				_, err = io.ReadAll(r)
			}
			if !errors.Is(err, mgmt.ErrProtocol) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("read: %v; want ErrProtocol naming %q", err, tt.text)
			}
		})
	}
}
