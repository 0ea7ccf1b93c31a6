package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// DialFunc returns a management client of the nodes at endpoints over a
// transport of its own, and a function that closes that transport. The
// local driver dials afresh for every step, since a transport's connection
// to a node that restarted on the same address stays silent until it times
// out.
type DialFunc func(ctx context.Context, endpoints []raftcore.Peer) (*mgmt.Client, func(), error)

// LocalConfig configures a Local driver.
type LocalConfig struct {
	// Dial reaches the nodes' management endpoints with the cluster secret
	// (jangadactl dials over QUIC). Required.
	Dial DialFunc
	// Progress receives a line per step. Default: none.
	Progress func(Progress)
	// HTTPClient checks the nodes' /ready. Default: a client with a 2s
	// timeout.
	HTTPClient *http.Client
}

// Progress is one step of an operation, as it happens.
type Progress struct {
	Node    uint64        // 0 for the cluster as a whole
	Message string        // "stopped (SIGTERM)", "healthy, lag 3"
	Elapsed time.Duration // how long the step took, when it is one
}

func (p Progress) String() string {
	s := p.Message
	if p.Node != 0 {
		s = fmt.Sprintf("node %d: %s", p.Node, s)
	}
	if p.Elapsed > 0 {
		s += fmt.Sprintf(" (%v)", p.Elapsed.Round(time.Millisecond))
	}
	return s
}

// Local is the local driver: it runs each node of a Config as a background
// process on this machine, with its log and pid file under StateDir, and
// carries out bootstrap, rolling updates, rollbacks and scaling with
// health gates. The processes outlive the Local (and the CLI); a later
// Local on the same StateDir finds them by their pid files. Operations on
// one StateDir are serialised by a lock file; one that is held fails with
// ErrLocked.
type Local struct {
	cfg      *Config
	lc       LocalConfig
	stateDir string

	mu       sync.Mutex
	children map[int]*child
}

// NewLocal returns a local driver of cfg. Errors wrap ErrInvalidConfig
// when cfg lacks what the driver needs (an executable binary, a readable
// cluster secret file of mode 0600).
func NewLocal(cfg *Config, lc LocalConfig) (*Local, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no config", ErrInvalidConfig)
	}
	if lc.Dial == nil {
		return nil, fmt.Errorf("%w: LocalConfig.Dial is required", ErrInvalidConfig)
	}
	cfg = cfg.defaulted()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkLocal(); err != nil {
		return nil, err
	}
	if lc.HTTPClient == nil {
		lc.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	}
	return &Local{cfg: cfg, lc: lc, stateDir: cfg.Path(cfg.StateDir), children: map[int]*child{}}, nil
}

func (l *Local) progress(node uint64, elapsed time.Duration, format string, args ...any) {
	if l.lc.Progress != nil {
		l.lc.Progress(Progress{Node: node, Message: fmt.Sprintf(format, args...), Elapsed: elapsed})
	}
}

func (l *Local) healthTimeout() time.Duration {
	return time.Duration(l.cfg.Update.HealthTimeoutSeconds) * time.Second
}

func (l *Local) stopTimeout() time.Duration {
	return time.Duration(l.cfg.Update.StopTimeoutSeconds) * time.Second
}

// args returns node n's serve flags. peers are the members it is told of.
func (l *Local) args(n Node, peers []Node, join bool) []string {
	var list []string
	for _, p := range peers {
		list = append(list, fmt.Sprintf("%d=%s", p.NodeID, p.RaftAddr()))
	}
	a := []string{"serve",
		"--id", strconv.FormatUint(n.NodeID, 10),
		"--data-dir", l.cfg.Path(n.DataDir),
		"--listen", n.RaftAddr(),
		"--http", n.HTTPAddr(),
		"--peers", strings.Join(list, ","),
		"--cluster-secret-file", l.cfg.Path(l.cfg.ClusterSecretFile),
		"--store", l.cfg.Store,
		"--preset", l.cfg.RaftPreset,
		"--log-level", l.cfg.LogLevel,
	}
	if join {
		a = append(a, "--join")
	}
	location := l.cfg.Backup.StorageLocation
	if !strings.HasPrefix(location, "s3://") && location != "" {
		location = l.cfg.Path(location)
	}
	a = append(a, l.cfg.backupFlags(location)...)
	return append(a, l.cfg.ExtraArgs...)
}

func (l *Local) nodesOf(ids []uint64) []Node {
	var out []Node
	for _, id := range ids {
		if n, ok := l.cfg.node(id); ok {
			out = append(out, n)
		}
	}
	return out
}

// start starts node id on its recorded binary and records the pid.
func (l *Local) start(s *state, id uint64) error {
	n, ok := l.cfg.node(id)
	if !ok {
		return fmt.Errorf("%w: node %d is in the state dir but not in the config's nodes", ErrInvalidConfig, id)
	}
	ns := s.node(id)
	if ns.Binary == "" {
		ns.Binary = s.Binary
	}
	if ns.Formed {
		if entries, err := os.ReadDir(l.cfg.Path(n.DataDir)); err != nil || len(entries) == 0 {
			return fmt.Errorf("deploy: node %d's data directory %s is missing or empty: started so, it would form a cluster of its own; remove it (deploy scale) and add a new node instead",
				id, l.cfg.Path(n.DataDir))
		}
	}
	peers := l.nodesOf(s.Members)
	if !s.isMember(id) {
		peers = append(peers, n)
	}
	pid, err := l.startProcess(id, ns.Binary, l.args(n, peers, ns.Join), childEnv(n))
	ns.PID, ns.StartedAt = pid, time.Now().UTC()
	if err != nil {
		return err
	}
	l.progress(id, 0, "started %s (pid %d)", label(ns.Binary), pid)
	return nil
}

// running reports whether node id's recorded process is alive.
func (l *Local) running(s *state, id uint64) bool {
	ns := s.Nodes[strconv.FormatUint(id, 10)]
	if ns == nil || ns.PID == 0 {
		return false
	}
	gone, _ := l.exited(id, ns.PID)
	return !gone
}

// stop stops node id gracefully (see stopProcess).
func (l *Local) stop(ctx context.Context, s *state, id uint64) error {
	ns := s.node(id)
	began := time.Now()
	killed, err := l.stopProcess(ctx, id, ns.PID, l.stopTimeout())
	if err != nil {
		return err
	}
	ns.PID = 0
	how := "SIGTERM"
	if killed {
		how = fmt.Sprintf("SIGKILL after %ds of SIGTERM", l.cfg.Update.StopTimeoutSeconds)
	}
	l.progress(id, time.Since(began), "stopped (%s)", how)
	return nil
}

// Up starts the cluster (bootstrap) and returns once every member is
// healthy and caught up. The first run installs Binary and forms the
// cluster from the first Replicas nodes; later runs start the members that
// are not running (after Down, or a crash), on the binary each ran.
func (l *Local) Up(ctx context.Context) error {
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	s, err := l.loadState()
	if err != nil {
		return err
	}
	if s.Binary == "" {
		if s.Binary, err = l.install(l.cfg.Path(l.cfg.Binary)); err != nil {
			return err
		}
	}
	if len(s.Members) == 0 {
		for _, n := range l.cfg.Nodes[:l.cfg.Replicas] {
			s.Members = append(s.Members, n.NodeID)
		}
		l.progress(0, 0, "bootstrapping %s with nodes %v on %s", l.cfg.ClusterName, s.Members, label(s.Binary))
	}
	began := time.Now()
	var started []uint64
	for _, id := range s.Members {
		if l.running(s, id) {
			continue
		}
		if err := l.start(s, id); err != nil {
			_ = l.saveState(s)
			return err
		}
		started = append(started, id)
	}
	if err := l.saveState(s); err != nil {
		return err
	}
	for _, id := range s.Members {
		if err := l.gate(ctx, s, id, "up"); err != nil {
			_ = l.saveState(s)
			return err
		}
	}
	l.progress(0, time.Since(began), "cluster %s healthy: members %v (started %v)", l.cfg.ClusterName, s.Members, started)
	return l.saveState(s)
}

// Down stops every node gracefully (all at once: a cluster that is going
// away needs no hand-off), killing those that outlast the stop timeout.
// Data directories and the state are kept: Up starts the same members
// again.
func (l *Local) Down(ctx context.Context) error {
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	s, err := l.loadState()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 0, len(s.Nodes))
	var mu sync.Mutex
	for key, ns := range s.Nodes {
		id, _ := strconv.ParseUint(key, 10, 64)
		if gone, _ := l.exited(id, ns.PID); gone {
			ns.PID = 0
			continue
		}
		wg.Go(func() {
			began := time.Now()
			killed, err := l.stopProcess(ctx, id, ns.PID, l.stopTimeout())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ns.PID = 0
			how := "SIGTERM"
			if killed {
				how = "SIGKILL"
			}
			l.progress(id, time.Since(began), "stopped (%s)", how)
		})
	}
	wg.Wait()
	return errors.Join(append(errs, l.saveState(s))...)
}

// NodeStatus is one node as Status reports it.
type NodeStatus struct {
	ID       uint64 `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
	// Member: the driver made it a member (and has not removed it).
	Member  bool   `json:"member"`
	PID     int    `json:"pid,omitempty"`
	Running bool   `json:"running"`
	Binary  string `json:"binary"` // installed binary it was started on
	// Role and Lag as the leader reports them ("" when unknown).
	Role string `json:"role,omitempty"`
	Lag  uint64 `json:"lag"`
	// Version is what the node's GET /v1/status reports, if it answers.
	Version string `json:"version,omitempty"`
}

// ClusterStatus is the whole cluster as Status reports it.
type ClusterStatus struct {
	Cluster  string       `json:"cluster"`
	Leader   uint64       `json:"leader"`
	Term     uint64       `json:"term"`
	Binary   string       `json:"binary"`
	Previous string       `json:"previous,omitempty"`
	Nodes    []NodeStatus `json:"nodes"`
	// Error says why the cluster's own view is missing, if it is.
	Error string `json:"error,omitempty"`
}

// Status reports every node the driver knows: its process, the binary it
// runs, and its role and lag as the leader sees them.
func (l *Local) Status(ctx context.Context) (ClusterStatus, error) {
	s, err := l.loadState()
	if err != nil {
		return ClusterStatus{}, err
	}
	if len(s.Members) == 0 && len(s.Nodes) == 0 {
		return ClusterStatus{}, fmt.Errorf("%w: no state in %s (run deploy up)", ErrNotDeployed, l.stateDir)
	}
	out := ClusterStatus{Cluster: s.Cluster, Binary: label(s.Binary), Previous: label(s.Previous)}
	if s.Previous == "" {
		out.Previous = ""
	}
	var ms mgmt.Status
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if cl, closeFn, err := l.dial(cctx, s, s.Members); err != nil {
		out.Error = err.Error()
	} else {
		ms, err = cl.Status(cctx)
		closeFn()
		if err != nil {
			out.Error = err.Error()
		}
		out.Leader, out.Term = ms.Leader, ms.Term
	}
	ids := slices.Clone(s.Members)
	for key := range s.Nodes {
		id, _ := strconv.ParseUint(key, 10, 64)
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		n, _ := l.cfg.node(id)
		ns := s.node(id)
		st := NodeStatus{ID: id, RaftAddr: n.RaftAddr(), HTTPAddr: n.HTTPAddr(), Member: s.isMember(id), PID: ns.PID, Running: l.running(s, id), Binary: label(ns.Binary)}
		for _, m := range ms.Members {
			if m.ID == id {
				st.Role, st.Lag = m.Role, m.Lag
				if id == ms.Leader {
					st.Role = "leader"
				}
			}
		}
		if st.Running {
			st.Version = l.appVersion(cctx, n)
		}
		out.Nodes = append(out.Nodes, st)
	}
	return out, nil
}

// dial returns a management client of nodes ids, leaving out those whose
// process is known to be down (a QUIC dial to them would only time out).
func (l *Local) dial(ctx context.Context, s *state, ids []uint64) (*mgmt.Client, func(), error) {
	var eps []raftcore.Peer
	for _, n := range l.nodesOf(ids) {
		if ns := s.Nodes[strconv.FormatUint(n.NodeID, 10)]; ns != nil && !l.running(s, n.NodeID) {
			continue
		}
		eps = append(eps, raftcore.Peer{ID: n.NodeID, Addr: n.RaftAddr()})
	}
	if len(eps) == 0 {
		return nil, nil, fmt.Errorf("%w: none of nodes %v is running (deploy up starts them)", mgmt.ErrUnavailable, ids)
	}
	return l.lc.Dial(ctx, eps)
}

// clusterView returns the leader's status of the members, waiting (up to
// the health timeout) for a leader to answer: an election may be under way.
func (l *Local) clusterView(ctx context.Context, s *state) (mgmt.Status, error) {
	deadline := time.Now().Add(l.healthTimeout())
	for {
		st, err := l.leaderStatus(ctx, s)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

func (l *Local) leaderStatus(ctx context.Context, s *state) (mgmt.Status, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, closeFn, err := l.dial(cctx, s, s.Members)
	if err != nil {
		return mgmt.Status{}, err
	}
	defer closeFn()
	st, err := cl.Status(cctx)
	if err != nil {
		return st, err
	}
	if st.Leader == 0 || st.ID != st.Leader {
		return st, fmt.Errorf("%w: no leader reachable (node %d answered, knows leader %d)", mgmt.ErrUnavailable, st.ID, st.Leader)
	}
	return st, nil
}

// quorumCheck refuses a step that takes voter down (stop or removal) when
// the remaining healthy voters would be fewer than a quorum of the
// configuration after the step. down is 0 for a step that takes no voter
// down.
func quorumCheck(st mgmt.Status, down uint64, removing bool) error {
	voters, healthy := 0, 0
	isVoter := false
	for _, m := range st.Members {
		if m.Role != mgmt.RoleVoter {
			continue
		}
		voters++
		if m.ID == down {
			isVoter = true
			continue
		}
		if m.Active || m.ID == st.Leader {
			healthy++
		}
	}
	if !isVoter {
		return nil
	}
	after := voters
	if removing {
		after--
		if after < 1 {
			return fmt.Errorf("%w: node %d is the last voter", ErrQuorum, down)
		}
	}
	if quorum := after/2 + 1; voters-1 < quorum {
		return fmt.Errorf("%w: with %d voter(s), stopping node %d leaves %d, fewer than a quorum of %d even when healthy; add voters first, or take the cluster down (deploy down) and update it then",
			ErrQuorum, voters, down, voters-1, quorum)
	} else if healthy < quorum {
		verb := "stopping"
		if removing {
			verb = "removing"
		}
		return fmt.Errorf("%w: %s node %d leaves %d healthy voter(s) of %d, a quorum is %d; bring the unhealthy nodes back first (deploy status)",
			ErrQuorum, verb, down, healthy, after, quorum)
	}
	return nil
}

// quorumWait bounds how long a step waits for the leader to hear from
// enough voters: a leader that was just elected has heard from none yet.
const quorumWait = 5 * time.Second

// waitQuorum returns the leader's view once quorumCheck allows taking
// voter id down, or the check's error after quorumWait.
func (l *Local) waitQuorum(ctx context.Context, s *state, id uint64, removing bool) (mgmt.Status, error) {
	deadline := time.Now().Add(min(quorumWait, l.healthTimeout()))
	for {
		view, err := l.clusterView(ctx, s)
		if err != nil {
			return view, err
		}
		err = quorumCheck(view, id, removing)
		if err == nil || time.Now().After(deadline) {
			return view, err
		}
		if allHealthy := healthyView(view); quorumCheck(allHealthy, id, removing) != nil {
			return view, err // refused whatever the others do
		}
		select {
		case <-ctx.Done():
			return view, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// healthyView returns a copy of st in which every member is active.
func healthyView(st mgmt.Status) mgmt.Status {
	st.Members = slices.Clone(st.Members)
	for i := range st.Members {
		st.Members[i].Active = true
	}
	return st
}

// UpdateReport describes a finished or halted rolling update.
type UpdateReport struct {
	From, To string // installed binaries
	// Updated are the nodes restarted on To, in order.
	Updated []uint64
	// Steps are the per-node durations (stop, start, gate) in order.
	Steps []StepTime
	Total time.Duration
}

// StepTime is how long one node's turn took.
type StepTime struct {
	Node     uint64
	Leader   bool          // it led at its turn (leadership was moved first)
	Transfer time.Duration // the leadership transfer, if it led
	Stop     time.Duration
	Gate     time.Duration // start until healthy and caught up
}

// RollingUpdate restarts every member on binary, one at a time: followers
// first, the leader last after handing its leadership to an updated voter.
// Each node is stopped gracefully (SIGTERM, then SIGKILL after the stop
// timeout), started on the new binary, and the next is taken only once it
// is healthy and caught up (see the health gate). A step that would leave
// fewer healthy voters than a quorum is refused (ErrQuorum) before it
// starts. A node that fails its gate halts the update with a *GateError:
// the others keep serving on what they run, and Rollback restores the
// previous binary. Running it again with the same binary resumes.
func (l *Local) RollingUpdate(ctx context.Context, binary string) (*UpdateReport, error) {
	unlock, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	s, err := l.loadState()
	if err != nil {
		return nil, err
	}
	if len(s.Members) == 0 {
		return nil, fmt.Errorf("%w: run deploy up first", ErrNotDeployed)
	}
	installed, err := l.install(binary)
	if err != nil {
		return nil, err
	}
	if installed != s.Binary {
		s.Previous, s.Binary = s.Binary, installed
	}
	if err := l.saveState(s); err != nil {
		return nil, err
	}
	return l.converge(ctx, s)
}

// Rollback restarts the members on the binary the cluster ran before the
// last update, with the same order and gates as RollingUpdate. It returns
// ErrNothingToRollBack when no update was made.
func (l *Local) Rollback(ctx context.Context) (*UpdateReport, error) {
	unlock, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	s, err := l.loadState()
	if err != nil {
		return nil, err
	}
	if s.Previous == "" {
		return nil, ErrNothingToRollBack
	}
	s.Previous, s.Binary = s.Binary, s.Previous
	l.progress(0, 0, "rolling back from %s to %s", label(s.Previous), label(s.Binary))
	if err := l.saveState(s); err != nil {
		return nil, err
	}
	return l.converge(ctx, s)
}

// converge restarts every member not running s.Binary, one at a time,
// followers first and the leader last.
func (l *Local) converge(ctx context.Context, s *state) (*UpdateReport, error) {
	rep := &UpdateReport{From: label(s.Previous), To: label(s.Binary)}
	began := time.Now()
	defer func() { rep.Total = time.Since(began) }()
	pending := func() []uint64 {
		var out []uint64
		for _, id := range s.Members {
			if ns := s.node(id); ns.Binary != s.Binary || !l.running(s, id) {
				out = append(out, id)
			}
		}
		return out
	}
	for {
		todo := pending()
		if len(todo) == 0 {
			l.progress(0, time.Since(began), "every member runs %s", label(s.Binary))
			return rep, nil
		}
		// Nodes that are down (a failed gate, a crash, deploy down) come back
		// first, all at once: they add to the quorum instead of taking from
		// it, and a cluster that is down entirely needs them all to elect.
		var down []uint64
		for _, c := range todo {
			if !l.running(s, c) {
				down = append(down, c)
			}
		}
		if len(down) > 0 {
			if err := l.startDown(ctx, s, down, rep); err != nil {
				return rep, err
			}
			continue
		}
		// Every pending node runs: followers first, the leader last.
		view, err := l.clusterView(ctx, s)
		if err != nil {
			return rep, fmt.Errorf("deploy: before the next step: %w", err)
		}
		id := todo[0]
		for _, c := range todo {
			if c != view.Leader {
				id = c
				break
			}
		}
		step := StepTime{Node: id}
		if view, err = l.waitQuorum(ctx, s, id, false); err != nil {
			return rep, err
		}
		if id == view.Leader {
			step.Leader = true
			t0 := time.Now()
			if view, err = l.handOff(ctx, s, view, id); err != nil {
				return rep, err
			}
			step.Transfer = time.Since(t0)
			l.progress(id, step.Transfer, "handed leadership to node %d", view.Leader)
		}
		t0 := time.Now()
		if err := l.stop(ctx, s, id); err != nil {
			return rep, err
		}
		step.Stop = time.Since(t0)
		s.node(id).Binary = s.Binary
		t0 = time.Now()
		if err := l.start(s, id); err != nil {
			_ = l.saveState(s)
			return rep, err
		}
		if err := l.saveState(s); err != nil {
			return rep, err
		}
		if err := l.gate(ctx, s, id, "update"); err != nil {
			_ = l.saveState(s)
			var ge *GateError
			if errors.As(err, &ge) {
				before := "no node was updated before it"
				if len(rep.Updated) > 0 {
					before = fmt.Sprintf("nodes %v were updated before it", rep.Updated)
				}
				ge.Halted = fmt.Sprintf("the update to %s halted at node %d (now down); %s; the other members serve on their binary; deploy update --rollback restores %s",
					label(s.Binary), id, before, label(s.Previous))
			}
			return rep, err
		}
		step.Gate = time.Since(t0)
		rep.Updated = append(rep.Updated, id)
		rep.Steps = append(rep.Steps, step)
		if err := l.saveState(s); err != nil {
			return rep, err
		}
	}
}

// startDown starts the members ids, which are not running, on s.Binary,
// then gates each.
func (l *Local) startDown(ctx context.Context, s *state, ids []uint64, rep *UpdateReport) error {
	t0 := time.Now()
	for _, id := range ids {
		s.node(id).Binary = s.Binary
		if err := l.start(s, id); err != nil {
			_ = l.saveState(s)
			return err
		}
	}
	if err := l.saveState(s); err != nil {
		return err
	}
	for _, id := range ids {
		if err := l.gate(ctx, s, id, "update"); err != nil {
			_ = l.saveState(s)
			var ge *GateError
			if errors.As(err, &ge) {
				ge.Halted = fmt.Sprintf("the update to %s halted at node %d (now down); deploy update --rollback restores %s", label(s.Binary), id, label(s.Previous))
			}
			return err
		}
		rep.Updated = append(rep.Updated, id)
		rep.Steps = append(rep.Steps, StepTime{Node: id, Gate: time.Since(t0)})
	}
	return l.saveState(s)
}

// handOff moves leadership away from id, preferring a voter that already
// runs the target binary, and returns the new view.
func (l *Local) handOff(ctx context.Context, s *state, view mgmt.Status, id uint64) (mgmt.Status, error) {
	var to uint64
	var best uint64
	for _, m := range view.Members {
		if m.ID == id || m.Role != mgmt.RoleVoter || !m.Active {
			continue
		}
		if s.node(m.ID).Binary == s.Binary && l.running(s, m.ID) && m.Match >= best {
			to, best = m.ID, m.Match
		}
	}
	deadline := time.Now().Add(l.healthTimeout())
	var lastErr error
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cl, closeFn, err := l.dial(cctx, s, s.Members)
		if err == nil {
			_, err = cl.LeaderTransfer(cctx, to)
			closeFn()
		}
		cancel()
		switch {
		case err == nil:
			if v, verr := l.clusterView(ctx, s); verr == nil && v.Leader != id {
				return v, nil
			}
		case errors.Is(err, mgmt.ErrConflict), errors.Is(err, mgmt.ErrNotFound), errors.Is(err, mgmt.ErrUnauthorized):
			return view, fmt.Errorf("deploy: hand leadership away from node %d: %w", id, err)
		default:
			lastErr = err
		}
		if ctx.Err() != nil {
			return view, ctx.Err()
		}
		select {
		case <-ctx.Done():
			return view, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return view, fmt.Errorf("deploy: node %d still leads after %v of transfer attempts: %v", id, l.healthTimeout(), lastErr)
}

// AddNode grows the cluster by the first node entry that was never used:
// it starts the node empty (--join), adds it as a learner, waits until it
// has caught up, promotes it to voter and waits until it is healthy. It
// returns the new node's id; ErrNoSlot when every entry was used.
func (l *Local) AddNode(ctx context.Context) (uint64, error) {
	unlock, err := l.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	s, err := l.loadState()
	if err != nil {
		return 0, err
	}
	return l.addNode(ctx, s)
}

func (l *Local) addNode(ctx context.Context, s *state) (uint64, error) {
	if len(s.Members) == 0 {
		return 0, fmt.Errorf("%w: run deploy up first", ErrNotDeployed)
	}
	var n Node
	for _, c := range l.cfg.Nodes {
		if _, used := s.Nodes[strconv.FormatUint(c.NodeID, 10)]; !used && !s.isMember(c.NodeID) && !s.isRetired(c.NodeID) {
			n = c
			break
		}
	}
	if n.NodeID == 0 {
		return 0, fmt.Errorf("%w: every entry of nodes has been used (removed ids are never reused); add an entry with a new node_id", ErrNoSlot)
	}
	id := n.NodeID
	if _, err := l.clusterView(ctx, s); err != nil {
		return 0, fmt.Errorf("deploy: add node %d: %w", id, err)
	}
	began := time.Now()
	ns := s.node(id)
	ns.Join, ns.Binary = true, s.Binary
	if err := l.start(s, id); err != nil {
		_ = l.saveState(s)
		return 0, err
	}
	if err := l.saveState(s); err != nil {
		return 0, err
	}
	// The node answers management calls before it is a member.
	if err := l.poll(ctx, s, id, "answers management calls", func(ctx context.Context) (string, error) {
		cl, closeFn, err := l.dial(ctx, s, []uint64{id})
		if err != nil {
			return "", err
		}
		defer closeFn()
		_, err = cl.NodeStatus(ctx, raftcore.Peer{ID: id, Addr: n.RaftAddr()})
		return "", err
	}); err != nil {
		return 0, err
	}
	if err := l.mutate(ctx, s, func(ctx context.Context, cl *mgmt.Client) error {
		return cl.MemberAdd(ctx, id, n.RaftAddr(), nil, true)
	}); err != nil {
		return 0, fmt.Errorf("deploy: add node %d as a learner: %w", id, err)
	}
	s.Members = append(s.Members, id)
	if err := l.saveState(s); err != nil {
		return 0, err
	}
	l.progress(id, time.Since(began), "added as a learner")
	t0 := time.Now()
	if err := l.poll(ctx, s, id, "catches up as a learner", func(ctx context.Context) (string, error) {
		return l.caughtUp(ctx, s, id)
	}); err != nil {
		return 0, err
	}
	l.progress(id, time.Since(t0), "caught up")
	view, err := l.clusterView(ctx, s)
	if err != nil {
		return 0, err
	}
	voters, healthy := 1, 1 // the learner, caught up, once promoted
	for _, m := range view.Members {
		if m.Role == mgmt.RoleVoter {
			voters++
			if m.Active || m.ID == view.Leader {
				healthy++
			}
		}
	}
	if quorum := voters/2 + 1; healthy < quorum {
		return 0, fmt.Errorf("%w: promoting node %d makes %d voters of which %d are healthy, a quorum is %d; bring the unhealthy nodes back first",
			ErrQuorum, id, voters, healthy, quorum)
	}
	if err := l.mutate(ctx, s, func(ctx context.Context, cl *mgmt.Client) error {
		return cl.MemberPromote(ctx, id)
	}); err != nil {
		return 0, fmt.Errorf("deploy: promote node %d: %w", id, err)
	}
	if err := l.gate(ctx, s, id, "add"); err != nil {
		return 0, err
	}
	l.progress(id, time.Since(began), "promoted to voter and healthy")
	return id, l.saveState(s)
}

// RemoveNode takes member id out of the cluster: leadership is handed away
// if it leads, the member is removed, its process stopped gracefully, and
// with wipe its data directory deleted. The id is never used again. A
// removal that would leave fewer healthy voters than a quorum is refused
// with ErrQuorum.
func (l *Local) RemoveNode(ctx context.Context, id uint64, wipe bool) error {
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	s, err := l.loadState()
	if err != nil {
		return err
	}
	return l.removeNode(ctx, s, id, wipe)
}

func (l *Local) removeNode(ctx context.Context, s *state, id uint64, wipe bool) error {
	if !s.isMember(id) {
		return fmt.Errorf("%w: node %d is not a member (members: %v)", mgmt.ErrNotFound, id, s.Members)
	}
	began := time.Now()
	view, err := l.clusterView(ctx, s)
	if err != nil {
		return fmt.Errorf("deploy: remove node %d: %w", id, err)
	}
	if view, err = l.waitQuorum(ctx, s, id, true); err != nil {
		return err
	}
	if view.Leader == id {
		if _, err := l.handOff(ctx, s, view, id); err != nil {
			return err
		}
		l.progress(id, time.Since(began), "handed leadership away")
	}
	if err := l.mutate(ctx, s, func(ctx context.Context, cl *mgmt.Client) error {
		err := cl.MemberRemove(ctx, id)
		if errors.Is(err, mgmt.ErrNotFound) {
			return nil // removed by an earlier attempt whose answer was lost
		}
		return err
	}); err != nil {
		return fmt.Errorf("deploy: remove node %d: %w", id, err)
	}
	s.Members = slices.DeleteFunc(s.Members, func(m uint64) bool { return m == id })
	s.Retired = append(s.Retired, id)
	if err := l.saveState(s); err != nil {
		return err
	}
	l.progress(id, time.Since(began), "removed from the cluster")
	if err := l.stop(ctx, s, id); err != nil {
		return err
	}
	delete(s.Nodes, strconv.FormatUint(id, 10))
	if wipe {
		n, _ := l.cfg.node(id)
		if err := os.RemoveAll(l.cfg.Path(n.DataDir)); err != nil {
			return fmt.Errorf("deploy: wipe node %d: %w", id, err)
		}
		l.progress(id, 0, "data directory %s deleted", l.cfg.Path(n.DataDir))
	}
	return l.saveState(s)
}

// Scale grows or shrinks the cluster to n voters, one node at a time
// (AddNode, RemoveNode without wipe). Shrinking removes the most recently
// added members first, and never the leader while another choice is left.
func (l *Local) Scale(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("%w: scale to %d: want at least 1", ErrInvalidConfig, n)
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	s, err := l.loadState()
	if err != nil {
		return err
	}
	if len(s.Members) == 0 {
		return fmt.Errorf("%w: run deploy up first", ErrNotDeployed)
	}
	began := time.Now()
	from := len(s.Members)
	for len(s.Members) < n {
		if _, err := l.addNode(ctx, s); err != nil {
			return err
		}
	}
	for len(s.Members) > n {
		view, err := l.clusterView(ctx, s)
		if err != nil {
			return err
		}
		victims := slices.Clone(s.Members)
		slices.Reverse(victims) // newest first
		id := victims[0]
		for _, v := range victims {
			if v != view.Leader {
				id = v
				break
			}
		}
		if err := l.removeNode(ctx, s, id, false); err != nil {
			return err
		}
	}
	l.progress(0, time.Since(began), "scaled from %d to %d members: %v", from, len(s.Members), s.Members)
	return nil
}

// mutate runs fn with a client of the members (bounded by the health
// timeout).
func (l *Local) mutate(ctx context.Context, s *state, fn func(ctx context.Context, cl *mgmt.Client) error) error {
	cctx, cancel := context.WithTimeout(ctx, l.healthTimeout())
	defer cancel()
	cl, closeFn, err := l.dial(cctx, s, s.Members)
	if err != nil {
		return err
	}
	defer closeFn()
	return fn(cctx, cl)
}
