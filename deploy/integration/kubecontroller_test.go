package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
	"github.com/jangada-io/jangada/deploy"
)

// fakeController plays the StatefulSet controller and the kubelet for a
// fake clientset, with real kvstore processes as the pods: pods of an
// ordinal at or above the partition whose image is not the template's are
// stopped (SIGTERM, as a pod's termination) and started again on the
// binary of the new image, on the same data directory; a deleted pod is
// recreated; a pod is Ready while its /ready answers 200; a process that
// exits is restarted after a back-off, with its restart count, exit and
// the end of its log in the pod's status (as CrashLoopBackOff would).
type fakeController struct {
	t         *testing.T
	client    kubernetes.Interface
	ns, name  string
	dir       string
	secret    string
	binaries  map[string]string // image -> kvstore binary
	replicas  int
	raftPorts []int
	httpPorts []int
	http      *http.Client

	mu    sync.Mutex
	procs map[int]*podProcess

	stop chan struct{}
	done chan struct{}
}

// podProcess is the kvstore process of one pod.
type podProcess struct {
	image   string
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error
	restart time.Time // when an exited process is started again
}

// newFakeController renders the StatefulSet for cfg, stores it in a fake
// clientset and starts the controller, which creates the pods on image.
func newFakeController(t *testing.T, cfg *deploy.Config, dir string, binaries map[string]string) (*fakeController, kubernetes.Interface) {
	t.Helper()
	files, err := deploy.Render(cfg, deploy.TargetKubernetes)
	if err != nil {
		t.Fatal(err)
	}
	var sts appsv1.StatefulSet
	for _, f := range files {
		if f.Path == "statefulset.yaml" {
			if err := yaml.UnmarshalStrict(f.Data, &sts); err != nil {
				t.Fatal(err)
			}
		}
	}
	secretFile := filepath.Join(dir, "cluster-secret")
	if err := os.WriteFile(secretFile, []byte(clusterSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(&sts)
	fc := &fakeController{
		t: t, client: client, ns: sts.Namespace, name: sts.Name, dir: dir, secret: secretFile,
		binaries: binaries, replicas: int(*sts.Spec.Replicas),
		http:  &http.Client{Timeout: time.Second},
		procs: map[int]*podProcess{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
	for range fc.replicas {
		fc.raftPorts = append(fc.raftPorts, kvtest.FreeUDPPort(t))
		fc.httpPorts = append(fc.httpPorts, kvtest.FreeTCPPort(t))
	}
	go fc.run()
	t.Cleanup(fc.close)
	return fc, client
}

func (fc *fakeController) close() {
	select {
	case <-fc.stop:
		return
	default:
	}
	close(fc.stop)
	<-fc.done
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for o, p := range fc.procs {
		fc.stopProcess(o, p)
	}
	var logs []processLog
	for o := range fc.replicas {
		logs = append(logs, processLog{fmt.Sprintf("pod %d", o), fc.logPath(o)})
	}
	checkLogs(fc.t, logs)
}

func (fc *fakeController) run() {
	defer close(fc.done)
	for {
		select {
		case <-fc.stop:
			return
		case <-time.After(50 * time.Millisecond): // the controller's resync, not a synchronisation
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := fc.reconcile(ctx); err != nil {
			fc.t.Logf("fake controller: %v", err)
		}
		cancel()
	}
}

// reconcile does one pass of the controller and the kubelet.
func (fc *fakeController) reconcile(ctx context.Context) error {
	sts, err := fc.client.AppsV1().StatefulSets(fc.ns).Get(ctx, fc.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	partition := int(*sts.Spec.UpdateStrategy.RollingUpdate.Partition)
	template := sts.Spec.Template.Spec.Containers[0].Image
	for o := range fc.replicas {
		pod, err := fc.client.CoreV1().Pods(fc.ns).Get(ctx, fc.podName(o), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			// Created, or recreated after a deletion: at or above the
			// partition on the template, below it on what it ran.
			image := template
			fc.mu.Lock()
			if p := fc.procs[o]; p != nil {
				if o < partition {
					image = p.image
				}
				fc.stopProcess(o, p)
				delete(fc.procs, o)
			}
			fc.mu.Unlock()
			if err := fc.createPod(ctx, sts, o, image); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		if o >= partition && pod.Spec.Containers[0].Image != template {
			fc.t.Logf("fake controller: partition %d: replacing pod %s (%s) by one on %s", partition, pod.Name, pod.Spec.Containers[0].Image, template)
			fc.mu.Lock()
			if p := fc.procs[o]; p != nil {
				fc.stopProcess(o, p)
				delete(fc.procs, o)
			}
			fc.mu.Unlock()
			if err := fc.client.CoreV1().Pods(fc.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
				return err
			}
			if err := fc.createPod(ctx, sts, o, template); err != nil {
				return err
			}
			continue
		}
		if err := fc.kubelet(ctx, pod, o); err != nil {
			return err
		}
	}
	return nil
}

func (fc *fakeController) podName(o int) string { return fmt.Sprintf("%s-%d", fc.name, o) }

// createPod creates the pod of ordinal o from the template on image, with
// ports of its own (every pod shares 127.0.0.1), and starts its process.
func (fc *fakeController) createPod(ctx context.Context, sts *appsv1.StatefulSet, o int, image string) error {
	spec := *sts.Spec.Template.Spec.DeepCopy()
	spec.Containers[0].Image = image
	spec.Containers[0].Ports = []corev1.ContainerPort{
		{Name: "raft", ContainerPort: int32(fc.raftPorts[o]), Protocol: corev1.ProtocolUDP},
		{Name: "http", ContainerPort: int32(fc.httpPorts[o]), Protocol: corev1.ProtocolTCP},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fc.podName(o), Namespace: fc.ns, Labels: sts.Spec.Template.Labels,
			UID: types.UID(fmt.Sprintf("%s-%d", fc.podName(o), time.Now().UnixNano()))},
		Spec: spec,
		Status: corev1.PodStatus{PodIP: "127.0.0.1", Phase: corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: spec.Containers[0].Name, Image: image}}},
	}
	if _, err := fc.client.CoreV1().Pods(fc.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	p, err := fc.startProcess(o, image)
	if err != nil {
		return err
	}
	fc.mu.Lock()
	fc.procs[o] = p
	fc.mu.Unlock()
	return nil
}

// kubelet restarts an exited process after a back-off and sets the pod's
// status: Ready while /ready answers 200, the restarts and the last exit.
func (fc *fakeController) kubelet(ctx context.Context, pod *corev1.Pod, o int) error {
	fc.mu.Lock()
	p := fc.procs[o]
	fc.mu.Unlock()
	if p == nil {
		return nil
	}
	cs := &pod.Status.ContainerStatuses[0]
	ready := false
	select {
	case <-p.exited:
		if p.restart.IsZero() {
			code := -1
			if ee, ok := errors.AsType[*exec.ExitError](p.err); ok {
				code = ee.ExitCode()
			}
			cs.RestartCount++
			cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: "Error", Message: fc.logTail(o, 5)}}
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
			p.restart = time.Now().Add(time.Second)
		} else if time.Now().After(p.restart) {
			np, err := fc.startProcess(o, p.image)
			if err != nil {
				return err
			}
			fc.mu.Lock()
			fc.procs[o] = np
			fc.mu.Unlock()
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}
	default:
		ready = fc.probe(ctx, o)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	_, err := fc.client.CoreV1().Pods(fc.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}

// probe is the readiness probe: GET /ready.
func (fc *fakeController) probe(ctx context.Context, o int) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/ready", fc.httpPorts[o]), nil)
	if err != nil {
		return false
	}
	resp, err := fc.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (fc *fakeController) logPath(o int) string {
	return filepath.Join(fc.dir, fmt.Sprintf("pod%d.log", o))
}

func (fc *fakeController) logTail(o, lines int) string {
	tail, _ := kvtest.TailLines(fc.logPath(o), lines)
	return strings.Join(tail, "\n")
}

// startProcess starts pod o's kvstore on image's binary, on the pod's
// data directory, with every pod as its initial peers (the rendered
// command discovers them by DNS SRV instead).
func (fc *fakeController) startProcess(o int, image string) (*podProcess, error) {
	bin, ok := fc.binaries[image]
	if !ok {
		return nil, fmt.Errorf("no binary for image %s", image)
	}
	var peers []string
	for i := range fc.replicas {
		peers = append(peers, fmt.Sprintf("%d=127.0.0.1:%d", i+1, fc.raftPorts[i]))
	}
	logFile, err := os.OpenFile(fc.logPath(o), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "--- starting %s (%s)\n", image, bin)
	cmd := exec.Command(bin, "serve", "--id", strconv.Itoa(o+1),
		"--data-dir", filepath.Join(fc.dir, fmt.Sprintf("data-%d", o)),
		"--listen", fmt.Sprintf("127.0.0.1:%d", fc.raftPorts[o]),
		"--http", fmt.Sprintf("127.0.0.1:%d", fc.httpPorts[o]),
		"--peers", strings.Join(peers, ","),
		"--cluster-secret-file", fc.secret,
		"--store", "pebble", "--preset", "testing", "--log-level", "warn", "--peer-idle-timeout", "1s")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &podProcess{image: image, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// stopProcess terminates a pod's process as the kubelet does: SIGTERM,
// SIGKILL after the grace period.
func (fc *fakeController) stopProcess(o int, p *podProcess) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		fc.t.Logf("fake controller: pod %d outlived its grace period: SIGKILL", o)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// httpAddrs returns every pod's HTTP address.
func (fc *fakeController) httpAddrs() []string {
	var out []string
	for _, p := range fc.httpPorts {
		out = append(out, fmt.Sprintf("127.0.0.1:%d", p))
	}
	return out
}

// images returns the image of each pod's process.
func (fc *fakeController) images() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := make([]string, fc.replicas)
	for o, p := range fc.procs {
		out[o] = p.image
	}
	return out
}
