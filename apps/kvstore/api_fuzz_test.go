package kvstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// internalDetail is the text of the unexpected error faultyNode returns; no
// response may show it.
const internalDetail = "fuzz-internal-detail"

// faultyNode is a memNode whose proposals and reads fail with err, if set.
type faultyNode struct {
	*memNode
	err error
}

func (n faultyNode) Propose(ctx context.Context, cmd Command) (Result, error) {
	if n.err != nil {
		return Result{}, n.err
	}
	return n.memNode.Propose(ctx, cmd)
}

func (n faultyNode) Read(ctx context.Context, fn func() error) error {
	if n.err != nil {
		return n.err
	}
	return n.memNode.Read(ctx, fn)
}

// documentedStatus lists every status the API documents.
var documentedStatus = []int{200, 301, 307, 308, 400, 401, 403, 404, 405, 412, 413, 500, 503, 504}

// FuzzHandler sends arbitrary HTTP requests (parsed as the server parses
// them) to the API handler over an in-memory node, with and without
// authentication, while the node works or fails. The handler must not
// panic, must answer with a documented status, and a 500 must carry a
// request id and none of the internal error's text.
func FuzzHandler(f *testing.F) {
	seeds := []string{
		"PUT /v1/kv/greeting HTTP/1.1\r\nHost: 127.0.0.1:8001\r\nContent-Length: 5\r\n\r\nhello",
		"GET /v1/kv/greeting?consistency=stale HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /v1/kv?prefix=gr&limit=10 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + readToken + "\r\n\r\n",
		"DELETE /v1/kv/greeting?if_version=3 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + readWriteToken + "\r\n\r\n",
		"PUT /v1/kv/a%2Fb?if_version=0 HTTP/1.1\r\nHost: x\r\nAuthorization: bearer " + readToken + "\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/kv HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"HEAD /v1/kv/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /v1/kv/../x HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i))
	}
	tokens := testTokens(f)
	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:40000"
		m := NewMachine()
		node := faultyNode{memNode: &memNode{machine: m}}
		switch mode % 4 {
		case 1:
			node.err = errors.New(internalDetail)
		case 2:
			node.err = raftcore.ErrProposalDropped
		case 3:
			node.err = &raftcore.NotLeaderError{LeaderID: 2}
		}
		cfg := HandlerConfig{Node: node, Machine: m, MaxValueSize: 4 << 10}
		if mode&4 != 0 {
			cfg.Auth = &Auth{Tokens: tokens}
		}
		h, err := NewHandler(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !slices.Contains(documentedStatus, rec.Code) {
			t.Fatalf("%s %s: status %d is not documented", req.Method, req.URL, rec.Code)
		}
		if strings.Contains(rec.Body.String(), internalDetail) {
			t.Fatalf("%s %s: the response shows the internal error: %s", req.Method, req.URL, rec.Body)
		}
		if rec.Code == http.StatusInternalServerError {
			var er ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.RequestID == "" || er.Code != CodeInternal {
				t.Fatalf("%s %s: 500 without a request id: %s", req.Method, req.URL, rec.Body)
			}
		}
	})
}
