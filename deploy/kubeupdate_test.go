package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// fakeKube is a StatefulSet controller and the raft cluster in its pods,
// as a model: lowering the partition restarts the pods at and above it on
// the template's image; a restarted pod needs catchUp status calls before
// the leader sees it caught up; a pod on a broken image never gets ready
// and its container restarts. It records every restart and whether the
// restarted pod led, and whether the pods restarted before it were caught
// up then.
type fakeKube struct {
	mu        sync.Mutex
	partition int
	image     string
	previous  string
	broken    map[string]bool
	catchUp   int
	pods      []*fakePod
	leader    uint64
	restarts  []fakeRestart
	transfers [][2]uint64
}

type fakePod struct {
	image    string
	behind   int // status calls until it is caught up
	restarts int
}

type fakeRestart struct {
	ordinal    int
	led        bool
	othersDown []int // pods restarted earlier that were not caught up yet
}

func newFakeKube(replicas int, image string, leader uint64) *fakeKube {
	f := &fakeKube{partition: replicas, image: image, broken: map[string]bool{}, catchUp: 3, leader: leader}
	for range replicas {
		f.pods = append(f.pods, &fakePod{image: image})
	}
	return f
}

func (f *fakeKube) ready(o int) bool {
	p := f.pods[o]
	return !f.broken[p.image] && p.behind == 0
}

func (f *fakeKube) Get(context.Context) (StatefulSetState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := StatefulSetState{Replicas: len(f.pods), Partition: f.partition, Image: f.image, PreviousImage: f.previous}
	for o, p := range f.pods {
		if f.broken[p.image] {
			p.restarts++
		} else if p.behind > 0 {
			p.behind-- // catching up as time passes
		}
		st.Pods = append(st.Pods, PodState{Ordinal: o, Name: fmt.Sprintf("demo-%d", o), Image: p.image, Ready: f.ready(o),
			Restarts: p.restarts, LastTermination: "exit code 3: refusing to start",
			RaftAddr: fmt.Sprintf("127.0.0.1:%d", 7001+o), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 8001+o)})
	}
	return st, nil
}

func (f *fakeKube) SetPartition(_ context.Context, partition int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.partition = partition
	for o := partition; o < len(f.pods); o++ {
		if f.pods[o].image != f.image {
			f.restart(o)
		}
	}
	return nil
}

// restart replaces pod o by one on the template's image.
func (f *fakeKube) restart(o int) {
	r := fakeRestart{ordinal: o, led: f.leader == nodeID(o)}
	for _, earlier := range f.restarts {
		if !f.ready(earlier.ordinal) && earlier.ordinal != o {
			r.othersDown = append(r.othersDown, earlier.ordinal)
		}
	}
	f.restarts = append(f.restarts, r)
	if r.led {
		f.leader = 0 // an election follows
		for c := range f.pods {
			if c != o && f.ready(c) {
				f.leader = nodeID(c)
				break
			}
		}
	}
	f.pods[o] = &fakePod{image: f.image, behind: f.catchUp}
}

func (f *fakeKube) SetImage(_ context.Context, image, previous string, partition int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.image, f.previous, f.partition = image, previous, partition
	return nil
}

func (f *fakeKube) DeletePod(_ context.Context, o int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.pods[o].image
	if o >= f.partition {
		img = f.image
	}
	f.pods[o] = &fakePod{image: img, behind: f.catchUp}
	return nil
}

func (f *fakeKube) status(context.Context, []PodState) (mgmt.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leader == 0 {
		return mgmt.Status{}, fmt.Errorf("%w: no leader", mgmt.ErrUnavailable)
	}
	st := mgmt.Status{ID: f.leader, Leader: f.leader, Role: "leader"}
	for o, p := range f.pods {
		m := mgmt.Member{ID: nodeID(o), Role: mgmt.RoleVoter, Active: !f.broken[p.image], Progress: true, Match: 100}
		if p.behind > 0 {
			m.Lag = 10000
		}
		st.Members = append(st.Members, m)
	}
	return st, nil
}

func (f *fakeKube) transfer(_ context.Context, _ []PodState, to uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if to == 0 {
		for o := range f.pods {
			if nodeID(o) != f.leader && f.ready(o) {
				to = nodeID(o)
				break
			}
		}
	}
	if to == 0 || !f.ready(int(to)-1) {
		return fmt.Errorf("%w: node %d cannot lead", mgmt.ErrUnavailable, to)
	}
	f.transfers = append(f.transfers, [2]uint64{f.leader, to})
	f.leader = to
	return nil
}

func (f *fakeKube) health(_ context.Context, p PodState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ready(p.Ordinal) {
		return errors.New("not ready")
	}
	return nil
}

func (f *fakeKube) images() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.pods {
		out = append(out, p.image)
	}
	return out
}

func newFakeDriver(t *testing.T, f *fakeKube) *KubernetesDriver {
	t.Helper()
	cfg, err := Parse([]byte(minimalConfig+"update: {health_timeout_seconds: 10}\nkubernetes: {image: kvstore:v1}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKubernetesDriver(cfg, KubernetesDriverConfig{API: f, Dial: func(context.Context, []raftcore.Peer) (*mgmt.Client, func(), error) {
		return nil, nil, errors.New("unused")
	}, Progress: func(p Progress) { t.Log(p) }})
	if err != nil {
		t.Fatal(err)
	}
	k.cluster = f
	return k
}

// TestKubernetesUpdateRestartsFollowersFirstAndTheLeaderLast: whichever pod
// leads, the partition goes down one ordinal at a time, no pod is
// restarted while it leads, the one that led (after leadership was moved
// to the pod restarted last) goes last after handing leadership to an
// updated pod, and no pod is restarted before the ones restarted earlier
// passed their gate.
func TestKubernetesUpdateRestartsFollowersFirstAndTheLeaderLast(t *testing.T) {
	for _, leader := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("leader %d", leader), func(t *testing.T) {
			f := newFakeKube(3, "kvstore:v1", leader)
			k := newFakeDriver(t, f)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := k.RollingUpdate(ctx, "kvstore:v2")
			if err != nil {
				t.Fatal(err)
			}
			if got := f.images(); !slices.Equal(got, []string{"kvstore:v2", "kvstore:v2", "kvstore:v2"}) {
				t.Fatalf("images after the update: %v", got)
			}
			var order []int
			for i, r := range f.restarts {
				order = append(order, r.ordinal)
				if r.led {
					t.Errorf("pod %d was restarted while it led (restarts %+v)", r.ordinal, f.restarts)
				}
				if len(r.othersDown) > 0 {
					t.Errorf("restart %d (pod %d) began while pods %v, restarted before, had not passed their gate", i, r.ordinal, r.othersDown)
				}
			}
			if !slices.Equal(order, []int{2, 1, 0}) {
				t.Errorf("restart order %v, want the partition stepped 2, 1, 0", order)
			}
			if !slices.Equal(rep.Updated, []uint64{3, 2, 1}) {
				t.Errorf("report: updated %v", rep.Updated)
			}
			for i, s := range rep.Steps {
				if want := i == len(rep.Steps)-1; s.Leader != want {
					t.Errorf("step %d (node %d): led %v, want the leader last only (steps %+v)", i, s.Node, s.Leader, rep.Steps)
				}
			}
			if len(f.transfers) == 0 {
				t.Fatal("leadership was never moved")
			}
			if last := f.transfers[len(f.transfers)-1]; last[0] != 1 || (last[1] != 2 && last[1] != 3) {
				t.Errorf("transfers %v: want the last from node 1 to an updated node", f.transfers)
			}
		})
	}
}

// TestKubernetesUpdateHaltsOnAFailedGateAndRollsBack: an image whose
// container exits halts the update at its first pod with a report naming
// the pod, the exit and how to roll back; the other pods stay on the old
// image; the rollback brings the broken pod back.
func TestKubernetesUpdateHaltsOnAFailedGateAndRollsBack(t *testing.T) {
	f := newFakeKube(3, "kvstore:v1", 1)
	f.broken["kvstore:broken"] = true
	k := newFakeDriver(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := k.RollingUpdate(ctx, "kvstore:broken")
	var ge *GateError
	if !errors.As(err, &ge) || !errors.Is(err, ErrHealthGate) {
		t.Fatalf("update to an image that exits: %v, want a *GateError", err)
	}
	for _, want := range []string{"pod demo-2: its container exited", "halted at pod demo-2 with the partition at 2", "--rollback restores kvstore:v1", "exit code 3: refusing to start"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("report lacks %q:\n%v", want, err)
		}
	}
	if got := f.images(); !slices.Equal(got, []string{"kvstore:v1", "kvstore:v1", "kvstore:broken"}) {
		t.Fatalf("images after the halt: %v, want the update stopped at pod 2", got)
	}
	if _, err := k.RollingUpdate(ctx, "kvstore:broken"); !errors.Is(err, ErrHealthGate) {
		t.Fatalf("resuming the broken update: %v, want the gate to fail again", err)
	}
	rep, err := k.Rollback(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.images(); !slices.Equal(got, []string{"kvstore:v1", "kvstore:v1", "kvstore:v1"}) {
		t.Fatalf("images after the rollback: %v", got)
	}
	if rep.To != "kvstore:v1" || !slices.Equal(rep.Updated, []uint64{3}) {
		t.Fatalf("rollback report %+v, want pod 2 alone restarted on kvstore:v1", rep)
	}
}

// TestKubernetesUpdateKeepsTheQuorum: a cluster of two voters cannot be
// updated while it serves.
func TestKubernetesUpdateKeepsTheQuorum(t *testing.T) {
	f := newFakeKube(2, "kvstore:v1", 1)
	k := newFakeDriver(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := k.RollingUpdate(ctx, "kvstore:v2"); !errors.Is(err, ErrQuorum) {
		t.Fatalf("update of two voters: %v, want ErrQuorum", err)
	}
	if len(f.restarts) != 0 {
		t.Fatalf("restarted %+v before refusing", f.restarts)
	}
}
