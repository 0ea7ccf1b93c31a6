package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// StatefulSetAPI is what a Kubernetes rolling update needs of the API
// server: the StatefulSet rendered for the config (its partition, the app
// container's image, the image before the last update) and its pods, and
// three changes. The module deploy/kube implements it with client-go;
// tests implement it with a fake controller.
type StatefulSetAPI interface {
	// Get returns the StatefulSet and its pods.
	Get(ctx context.Context) (StatefulSetState, error)
	// SetPartition sets spec.updateStrategy.rollingUpdate.partition: pods
	// of that ordinal and above are brought to the template, the others
	// stay as they are.
	SetPartition(ctx context.Context, partition int) error
	// SetImage sets the app container's image in the pod template, records
	// previous as the image to roll back to, and sets the partition, in
	// one change (so that no pod moves before the partition says so).
	SetImage(ctx context.Context, image, previous string, partition int) error
	// DeletePod deletes the pod of ordinal; the controller recreates it.
	DeletePod(ctx context.Context, ordinal int) error
}

// StatefulSetState is a StatefulSet as the update sees it.
type StatefulSetState struct {
	Replicas  int
	Partition int
	// Image is the app container's image in the pod template;
	// PreviousImage the one before the last update ("" if none).
	Image, PreviousImage string
	// Pods are the pods that exist, in any order.
	Pods []PodState
}

// PodState is one pod of the StatefulSet.
type PodState struct {
	Ordinal int
	Name    string
	// Image is what the pod's app container runs.
	Image string
	// Ready is the pod's Ready condition (its readiness probe is /ready).
	Ready bool
	// Deleting: the pod is terminating.
	Deleting bool
	// Restarts counts the app container's restarts; LastTermination
	// describes its last exit ("exit code 3: …"), if any.
	Restarts        int
	LastTermination string
	// RaftAddr and HTTPAddr reach the pod's raft (management) and HTTP
	// ports; empty until the pod has an address.
	RaftAddr, HTTPAddr string
}

// nodeID is the raft id of the pod of ordinal (the rendered command sets
// --id to the ordinal plus one).
func nodeID(ordinal int) uint64 { return uint64(ordinal) + 1 }

func (s StatefulSetState) pod(ordinal int) (PodState, bool) {
	for _, p := range s.Pods {
		if p.Ordinal == ordinal {
			return p, true
		}
	}
	return PodState{}, false
}

// KubernetesDriverConfig configures a KubernetesDriver.
type KubernetesDriverConfig struct {
	// API reaches the StatefulSet. Required.
	API StatefulSetAPI
	// Dial reaches the pods' management endpoints with the cluster secret.
	// Required.
	Dial DialFunc
	// Progress receives a line per step. Default: none.
	Progress func(Progress)
	// HTTPClient checks the pods' /ready. Default: a client with a 2s
	// timeout.
	HTTPClient *http.Client
}

// KubernetesDriver updates a cluster running as the StatefulSet that Render
// writes for the config: it steps the StatefulSet's partition down one
// ordinal at a time, with the local driver's health gates and quorum rule.
// jangadactl must reach the pods' addresses (run it inside the cluster's
// network).
type KubernetesDriver struct {
	cfg     *Config
	kc      KubernetesDriverConfig
	cluster podCluster
}

// NewKubernetesDriver returns a Kubernetes driver of cfg. Errors wrap
// ErrInvalidConfig.
func NewKubernetesDriver(cfg *Config, kc KubernetesDriverConfig) (*KubernetesDriver, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no config", ErrInvalidConfig)
	}
	if kc.API == nil || kc.Dial == nil {
		return nil, fmt.Errorf("%w: KubernetesDriverConfig.API and Dial are required", ErrInvalidConfig)
	}
	cfg = cfg.defaulted()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if kc.HTTPClient == nil {
		kc.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	}
	return &KubernetesDriver{cfg: cfg, kc: kc, cluster: &mgmtCluster{dial: kc.Dial, http: kc.HTTPClient}}, nil
}

func (k *KubernetesDriver) progress(node uint64, elapsed time.Duration, format string, args ...any) {
	if k.kc.Progress != nil {
		k.kc.Progress(Progress{Node: node, Message: fmt.Sprintf(format, args...), Elapsed: elapsed})
	}
}

func (k *KubernetesDriver) healthTimeout() time.Duration {
	return time.Duration(k.cfg.Update.HealthTimeoutSeconds) * time.Second
}

// RollingUpdate brings every pod to image. It holds every pod (partition
// at replicas) while it changes the template's image, then lowers the
// partition one ordinal at a time, from the highest. Leadership is moved
// first to the pod that goes last, so that followers are restarted first
// and the leader last, after it handed leadership to an updated voter.
// Before each step the quorum rule is checked (ErrQuorum); after it the
// pod must be recreated on image, Ready, seen by the leader within
// update.max_lag entries, with its management health checks passing and
// /ready answering 200, before the next one is taken. A pod that fails its
// gate halts the update with a *GateError (its container's exit, when it
// crashed); the pods below the partition keep serving on the old image.
// Running it again with the same image resumes; Rollback restores the
// previous image the same way.
func (k *KubernetesDriver) RollingUpdate(ctx context.Context, image string) (*UpdateReport, error) {
	if image == "" {
		return nil, fmt.Errorf("%w: no image to update to", ErrInvalidConfig)
	}
	st, err := k.kc.API.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("deploy: kubernetes: %w", err)
	}
	if st.Image != image {
		k.progress(0, 0, "updating StatefulSet %s from %s to %s (partition held at %d)", k.cfg.ClusterName, st.Image, image, st.Replicas)
		if err := k.kc.API.SetImage(ctx, image, st.Image, st.Replicas); err != nil {
			return nil, fmt.Errorf("deploy: kubernetes: set image: %w", err)
		}
		st.PreviousImage = st.Image
	}
	return k.converge(ctx, image, st.PreviousImage)
}

// Rollback brings every pod back to the image the StatefulSet ran before
// the last update, with the same order and gates as RollingUpdate. It
// returns ErrNothingToRollBack when none is recorded.
func (k *KubernetesDriver) Rollback(ctx context.Context) (*UpdateReport, error) {
	st, err := k.kc.API.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("deploy: kubernetes: %w", err)
	}
	if st.PreviousImage == "" || st.PreviousImage == st.Image {
		return nil, ErrNothingToRollBack
	}
	k.progress(0, 0, "rolling back StatefulSet %s from %s to %s", k.cfg.ClusterName, st.Image, st.PreviousImage)
	if err := k.kc.API.SetImage(ctx, st.PreviousImage, st.Image, st.Replicas); err != nil {
		return nil, fmt.Errorf("deploy: kubernetes: set image: %w", err)
	}
	return k.converge(ctx, st.PreviousImage, st.Image)
}

// converge lowers the partition from the top ordinal to 0, restarting
// each pod that does not run image and gating every pod on the way.
func (k *KubernetesDriver) converge(ctx context.Context, image, previous string) (*UpdateReport, error) {
	rep := &UpdateReport{From: previous, To: image}
	began := time.Now()
	defer func() { rep.Total = time.Since(began) }()
	st, err := k.kc.API.Get(ctx)
	if err != nil {
		return rep, fmt.Errorf("deploy: kubernetes: %w", err)
	}
	if err := k.leaderLast(ctx, st, image); err != nil {
		return rep, err
	}
	for ordinal := st.Replicas - 1; ordinal >= 0; ordinal-- {
		if st, err = k.kc.API.Get(ctx); err != nil {
			return rep, fmt.Errorf("deploy: kubernetes: %w", err)
		}
		id := nodeID(ordinal)
		pod, ok := st.pod(ordinal)
		if ok && pod.Image == image && !pod.Deleting {
			// Already on image (an update resumed, or the pod was never
			// moved): the partition goes below it without a restart, once
			// it passes its gate.
			if st.Partition > ordinal {
				if err := k.kc.API.SetPartition(ctx, ordinal); err != nil {
					return rep, fmt.Errorf("deploy: kubernetes: set partition: %w", err)
				}
			}
			if err := k.gate(ctx, ordinal, image, 0); err != nil {
				return rep, err
			}
			continue
		}
		step := StepTime{Node: id}
		view, err := k.waitQuorum(ctx, id)
		if err != nil {
			return rep, err
		}
		if view.Leader == id {
			step.Leader = true
			t0 := time.Now()
			to := k.updatedVoter(view, st, image, id)
			if to == 0 {
				to = k.pendingVoter(view, st, id)
			}
			if view, err = k.handOff(ctx, id, to); err != nil {
				return rep, err
			}
			step.Transfer = time.Since(t0)
			k.progress(id, step.Transfer, "handed leadership to node %d", view.Leader)
		}
		t0 := time.Now()
		restarts := 0
		if ok {
			restarts = pod.Restarts
		}
		if err := k.kc.API.SetPartition(ctx, ordinal); err != nil {
			return rep, fmt.Errorf("deploy: kubernetes: set partition: %w", err)
		}
		k.progress(id, 0, "partition lowered to %d: pod %s-%d moves to %s", ordinal, k.cfg.ClusterName, ordinal, image)
		if ok && !pod.Ready && !pod.Deleting {
			// The controller may wait for a pod that is not ready (one that
			// crashes) before it replaces it; a broken pod takes nothing
			// away from the quorum, so it is deleted outright.
			if err := k.kc.API.DeletePod(ctx, ordinal); err != nil {
				return rep, fmt.Errorf("deploy: kubernetes: delete pod %s: %w", pod.Name, err)
			}
			restarts = 0
		}
		if err := k.gate(ctx, ordinal, image, restarts); err != nil {
			var ge *GateError
			if errors.As(err, &ge) {
				before := "no pod was updated before it"
				if len(rep.Updated) > 0 {
					before = fmt.Sprintf("nodes %v were updated before it", rep.Updated)
				}
				ge.Halted = fmt.Sprintf("the update to %s halted at pod %s-%d with the partition at %d; %s; the pods below it serve on their image; jangadactl deploy update --target kubernetes --rollback restores %s",
					image, k.cfg.ClusterName, ordinal, ordinal, before, previous)
			}
			return rep, err
		}
		step.Gate = time.Since(t0)
		rep.Updated = append(rep.Updated, id)
		rep.Steps = append(rep.Steps, step)
	}
	k.progress(0, time.Since(began), "every pod runs %s", image)
	return rep, nil
}

// leaderLast moves leadership to the pod that is restarted last (the
// lowest ordinal not on image) unless the leader is that pod or already
// runs image, so that the other pods are restarted as followers.
func (k *KubernetesDriver) leaderLast(ctx context.Context, st StatefulSetState, image string) error {
	last := -1
	for o := 0; o < st.Replicas; o++ {
		if p, ok := st.pod(o); !ok || p.Image != image {
			last = o
			break
		}
	}
	if last < 0 {
		return nil
	}
	view, err := k.clusterView(ctx)
	if err != nil {
		return fmt.Errorf("deploy: before the update: %w", err)
	}
	lp, ok := st.pod(int(view.Leader) - 1)
	if view.Leader == nodeID(last) || (ok && lp.Image == image) {
		return nil
	}
	to := nodeID(last)
	if !isActiveVoter(view, to) {
		return nil // the per-step hand-off moves it when its turn comes
	}
	t0 := time.Now()
	from := view.Leader
	if _, err := k.handOff(ctx, from, to); err != nil {
		return err
	}
	k.progress(from, time.Since(t0), "handed leadership to node %d, which is updated last", to)
	return nil
}

// gate waits until the pod of ordinal runs image and is healthy and caught
// up (see RollingUpdate). restarts is its container's restart count before
// the step: a pod whose container exits fails at once.
func (k *KubernetesDriver) gate(ctx context.Context, ordinal int, image string, restarts int) error {
	id := nodeID(ordinal)
	name := fmt.Sprintf("%s-%d", k.cfg.ClusterName, ordinal)
	began := time.Now()
	deadline := began.Add(k.healthTimeout())
	var last error
	for {
		st, err := k.kc.API.Get(ctx)
		var pod PodState
		if err == nil {
			err = k.podGate(ctx, st, ordinal, image, &pod)
		}
		if err == nil {
			k.progress(id, time.Since(began), "pod %s on %s: ready, healthy and caught up", name, image)
			return nil
		}
		last = err
		if pod.Image == image && !pod.Deleting && !pod.Ready && pod.Restarts > restarts {
			return &GateError{Node: id, Binary: image, Op: "update",
				Reason: fmt.Sprintf("pod %s: its container exited (restart count %d)", name, pod.Restarts), Log: pod.LastTermination}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return &GateError{Node: id, Binary: image, Op: "update",
				Reason: fmt.Sprintf("pod %s not healthy after %ds (update.health_timeout_seconds): %v", name, k.cfg.Update.HealthTimeoutSeconds, last), Log: pod.LastTermination}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// podGate checks the pod of ordinal once, filling in *pod.
func (k *KubernetesDriver) podGate(ctx context.Context, st StatefulSetState, ordinal int, image string, pod *PodState) error {
	p, ok := st.pod(ordinal)
	*pod = p
	id := nodeID(ordinal)
	switch {
	case !ok:
		return fmt.Errorf("pod %s-%d does not exist yet", k.cfg.ClusterName, ordinal)
	case p.Deleting:
		return fmt.Errorf("pod %s is terminating", p.Name)
	case p.Image != image:
		return fmt.Errorf("pod %s runs %s, not %s yet", p.Name, p.Image, image)
	case !p.Ready:
		return fmt.Errorf("pod %s is not Ready", p.Name)
	case p.RaftAddr == "" || p.HTTPAddr == "":
		return fmt.Errorf("pod %s has no address yet", p.Name)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	view, err := k.cluster.status(cctx, st.Pods)
	if err != nil {
		return err
	}
	if _, err := caughtUp(view, id, k.cfg.Update.MaxLag); err != nil {
		return err
	}
	return k.cluster.health(cctx, p)
}

// caughtUp reports whether the leader's view shows node id active within
// maxLag entries of the commit index.
func caughtUp(st mgmt.Status, id, maxLag uint64) (string, error) {
	if st.Leader == id {
		return "leads", nil
	}
	for _, m := range st.Members {
		if m.ID != id {
			continue
		}
		switch {
		case !m.Active:
			return "", fmt.Errorf("the leader has not heard from node %d lately", id)
		case m.Lag > maxLag:
			return "", fmt.Errorf("node %d is %d entries behind, more than update.max_lag %d", id, m.Lag, maxLag)
		}
		return fmt.Sprintf("%s, lag %d", m.Role, m.Lag), nil
	}
	return "", fmt.Errorf("node %d is not a member", id)
}

// clusterView returns the leader's status, waiting (up to the health
// timeout) for a leader to answer.
func (k *KubernetesDriver) clusterView(ctx context.Context) (mgmt.Status, error) {
	deadline := time.Now().Add(k.healthTimeout())
	for {
		st, err := k.kc.API.Get(ctx)
		var view mgmt.Status
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			view, err = k.cluster.status(cctx, st.Pods)
			cancel()
		}
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return view, err
		}
		select {
		case <-ctx.Done():
			return view, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// waitQuorum returns the leader's view once the quorum rule allows taking
// node id down, or the rule's error after quorumWait.
func (k *KubernetesDriver) waitQuorum(ctx context.Context, id uint64) (mgmt.Status, error) {
	deadline := time.Now().Add(min(quorumWait, k.healthTimeout()))
	for {
		view, err := k.clusterView(ctx)
		if err != nil {
			return view, fmt.Errorf("deploy: before the next step: %w", err)
		}
		err = quorumCheck(view, id, false)
		if err == nil || time.Now().After(deadline) || quorumCheck(healthyView(view), id, false) != nil {
			return view, err
		}
		select {
		case <-ctx.Done():
			return view, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// updatedVoter returns the active voter other than id that runs image and
// has the highest match, or 0.
func (k *KubernetesDriver) updatedVoter(view mgmt.Status, st StatefulSetState, image string, id uint64) uint64 {
	var to, best uint64
	for _, m := range view.Members {
		p, ok := st.pod(int(m.ID) - 1)
		if m.ID == id || m.Role != mgmt.RoleVoter || !m.Active || !ok || p.Image != image || !p.Ready {
			continue
		}
		if to == 0 || m.Match > best {
			to, best = m.ID, m.Match
		}
	}
	return to
}

// pendingVoter returns the active voter other than id with the lowest
// ordinal (restarted last), or 0 to let the leader choose.
func (k *KubernetesDriver) pendingVoter(view mgmt.Status, st StatefulSetState, id uint64) uint64 {
	for o := 0; o < st.Replicas; o++ {
		if c := nodeID(o); c != id && isActiveVoter(view, c) {
			return c
		}
	}
	return 0
}

func isActiveVoter(view mgmt.Status, id uint64) bool {
	for _, m := range view.Members {
		if m.ID == id {
			return m.Role == mgmt.RoleVoter && (m.Active || m.ID == view.Leader)
		}
	}
	return false
}

// handOff moves leadership from node from to node to (0: the leader's
// choice) and returns the view once another node leads.
func (k *KubernetesDriver) handOff(ctx context.Context, from, to uint64) (mgmt.Status, error) {
	deadline := time.Now().Add(k.healthTimeout())
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := k.kc.API.Get(ctx)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = k.cluster.transfer(cctx, st.Pods, to)
			cancel()
		}
		switch {
		case err == nil:
			if v, verr := k.clusterView(ctx); verr == nil && v.Leader != from {
				return v, nil
			}
		case errors.Is(err, mgmt.ErrConflict), errors.Is(err, mgmt.ErrNotFound), errors.Is(err, mgmt.ErrUnauthorized):
			return mgmt.Status{}, fmt.Errorf("deploy: hand leadership away from node %d: %w", from, err)
		default:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return mgmt.Status{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return mgmt.Status{}, fmt.Errorf("deploy: node %d still leads after %v of transfer attempts: %v", from, k.healthTimeout(), lastErr)
}

// podCluster is how the Kubernetes driver talks to the nodes in the pods;
// tests replace it.
type podCluster interface {
	// status returns the leader's status (an error if no leader answers).
	status(ctx context.Context, pods []PodState) (mgmt.Status, error)
	// transfer asks the leader to hand leadership to node to (0: its
	// choice).
	transfer(ctx context.Context, pods []PodState, to uint64) error
	// health checks the pod's management health checks and its /ready.
	health(ctx context.Context, pod PodState) error
}

// mgmtCluster is podCluster over jangada/mgmt/1 and HTTP.
type mgmtCluster struct {
	dial DialFunc
	http *http.Client
}

func endpoints(pods []PodState) []raftcore.Peer {
	var eps []raftcore.Peer
	for _, p := range pods {
		if p.RaftAddr != "" && !p.Deleting {
			eps = append(eps, raftcore.Peer{ID: nodeID(p.Ordinal), Addr: p.RaftAddr})
		}
	}
	slices.SortFunc(eps, func(a, b raftcore.Peer) int { return int(a.ID) - int(b.ID) })
	return eps
}

func (c *mgmtCluster) client(ctx context.Context, pods []PodState) (*mgmt.Client, func(), error) {
	eps := endpoints(pods)
	if len(eps) == 0 {
		return nil, nil, fmt.Errorf("%w: no pod has an address", mgmt.ErrUnavailable)
	}
	return c.dial(ctx, eps)
}

func (c *mgmtCluster) status(ctx context.Context, pods []PodState) (mgmt.Status, error) {
	cl, closeFn, err := c.client(ctx, pods)
	if err != nil {
		return mgmt.Status{}, err
	}
	defer closeFn()
	st, err := cl.Status(ctx)
	if err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	if st.Leader == 0 || st.ID != st.Leader {
		return st, fmt.Errorf("%w: no leader reachable (node %d answered, knows leader %d)", mgmt.ErrUnavailable, st.ID, st.Leader)
	}
	return st, nil
}

func (c *mgmtCluster) transfer(ctx context.Context, pods []PodState, to uint64) error {
	cl, closeFn, err := c.client(ctx, pods)
	if err != nil {
		return err
	}
	defer closeFn()
	_, err = cl.LeaderTransfer(ctx, to)
	return err
}

func (c *mgmtCluster) health(ctx context.Context, pod PodState) error {
	cl, closeFn, err := c.client(ctx, []PodState{pod})
	if err != nil {
		return err
	}
	defer closeFn()
	checks, err := cl.Health(ctx, raftcore.Peer{ID: nodeID(pod.Ordinal), Addr: pod.RaftAddr})
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	for _, ch := range checks {
		if ch.Status == mgmt.HealthFail {
			return fmt.Errorf("health check %s fails: %s", ch.Name, ch.Message)
		}
	}
	return readyCheck(ctx, c.http, pod.HTTPAddr)
}
