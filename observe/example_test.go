package observe_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/jangada-io/jangada/observe"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// staticNode stands in for a *raftcore.Node: a follower of node 1.
type staticNode struct{}

func (staticNode) Status() raftcore.Status {
	return raftcore.Status{
		ID: 2, Role: raftcore.RoleFollower, Leader: 1, LeaderActive: true, Term: 4,
		CommitIndex: 120, AppliedIndex: 120, SnapshotIndex: 100,
		Members: []raftcore.MemberStatus{
			{Peer: raftcore.Peer{ID: 1, Addr: "10.0.0.1:7000"}, Role: raftcore.MemberVoter},
			{Peer: raftcore.Peer{ID: 2, Addr: "10.0.0.2:7000"}, Role: raftcore.MemberVoter},
		},
	}
}

func (staticNode) Subscribe(context.Context) <-chan raftcore.Event { return nil }

func Example() {
	obs, err := observe.New(observe.Config{})
	if err != nil {
		panic(err)
	}
	defer obs.Close()
	// With a real node: cfg.Observer = obs and
	// cfg.Transport = obs.InstrumentTransport(cfg.Transport) before
	// raftcore.Start, then Attach the started node.
	if err := obs.Attach(staticNode{}); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	obs.Register(mux)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	fmt.Print(rec.Body.String())
	// Output:
	// {
	//   "id": 2,
	//   "role": "follower",
	//   "leader": 1,
	//   "term": 4,
	//   "commit_index": 120,
	//   "applied_index": 120,
	//   "snapshot_index": 100,
	//   "members": [
	//     {
	//       "id": 1,
	//       "address": "10.0.0.1:7000",
	//       "role": "voter",
	//       "match": 0,
	//       "next": 0,
	//       "state": "",
	//       "recent_active": false
	//     },
	//     {
	//       "id": 2,
	//       "address": "10.0.0.2:7000",
	//       "role": "voter",
	//       "match": 0,
	//       "next": 0,
	//       "state": "",
	//       "recent_active": false
	//     }
	//   ]
	// }
}

func ExampleObserver_AddCheck() {
	obs, err := observe.New(observe.Config{})
	if err != nil {
		panic(err)
	}
	defer obs.Close()
	if err := obs.Attach(staticNode{}); err != nil {
		panic(err)
	}
	// A check of the application's own, next to the defaults.
	err = obs.AddCheck(observe.Check{
		Name: "snapshot_age",
		Run: func(_ context.Context, st raftcore.Status) (observe.Health, string) {
			if behind := st.AppliedIndex - st.SnapshotIndex; behind > 10 {
				return observe.HealthDegraded, fmt.Sprintf("last snapshot %d entries ago", behind)
			}
			return observe.HealthOK, "recent snapshot"
		},
	})
	if err != nil {
		panic(err)
	}
	rep := obs.Health(context.Background())
	fmt.Println("overall:", rep.Status)
	for _, c := range rep.Checks {
		fmt.Printf("%s: %s (%s)\n", c.Name, c.Status, c.Message)
	}
	// Output:
	// overall: degraded
	// node: ok (node 2 is a follower)
	// leader: ok (leader is 1 (term 4))
	// storage: ok (no log saves yet)
	// quorum: ok (leader 1 reachable)
	// apply_lag: ok (0 committed entries not applied)
	// snapshot_age: degraded (last snapshot 20 entries ago)
}

func ExampleObserver_Handler() {
	obs, err := observe.New(observe.Config{})
	if err != nil {
		panic(err)
	}
	defer obs.Close()
	if err := obs.Attach(staticNode{}); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(obs.Handler())
	defer srv.Close()
	for _, path := range []string{"/health", "/ready"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode)
	}
	// Output:
	// /health 200
	// /ready 200
}
