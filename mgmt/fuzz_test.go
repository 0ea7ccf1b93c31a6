package mgmt

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to the frame reader and the body
// decoder of every kind, as a server reads a request and a client reads
// responses and events. Nothing may panic; any failure must be io.EOF, a
// truncated stream or ErrProtocol.
func FuzzReadFrame(f *testing.F) {
	for _, v := range []struct {
		kind byte
		body any
	}{
		{kindRequest, request{Op: opMemberAdd, ID: 4, Address: "127.0.0.1:7004", Key: make([]byte, 32), Learner: true}},
		{kindRequest, request{Op: opEvents, Since: 17, Follow: true}},
		{kindResponse, response{Node: 1, Error: &wireError{Code: CodeNotLeader, LeaderID: 2, LeaderAddr: "x"}}},
		{kindResponse, response{Node: 1, Status: &Status{ID: 1, Members: []Member{{ID: 1, Role: RoleVoter}}}}},
		{kindEvent, Event{Seq: 9, Type: EventMemberRemoved, Member: &Member{ID: 3}}},
	} {
		frame, err := encodeFrame(v.kind, v.body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
		f.Add(append(frame, frame...))
	}
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newFrameReader(bytes.NewReader(data), 1<<16)
		for range 4 {
			kind, payload, err := r.readAny()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrProtocol) {
					t.Fatalf("readAny: unexpected error %v", err)
				}
				return
			}
			var v any
			switch kind {
			case kindRequest:
				v = &request{}
			case kindResponse:
				v = &response{}
			default:
				v = &Event{}
			}
			if err := decodePayload(payload, kind, v); err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("decodePayload: unexpected error %v", err)
			}
			if resp, ok := v.(*response); ok {
				_ = resp.err()
			}
		}
	})
}
