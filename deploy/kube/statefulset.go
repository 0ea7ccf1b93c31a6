package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/jangada-io/jangada/deploy"
)

// PreviousImageAnnotation is the StatefulSet annotation in which an update
// records the image it replaced: what a rollback restores.
const PreviousImageAnnotation = "jangada.io/previous-image"

// Config configures a StatefulSet.
type Config struct {
	// Client reaches the API server. Required.
	Client kubernetes.Interface
	// Namespace and Name name the StatefulSet (the deployment config's
	// kubernetes.namespace and cluster_name). Required.
	Namespace, Name string
	// Container is the app container of the pod template. Default:
	// "kvstore", the name Render gives it.
	Container string
}

// StatefulSet is the StatefulSet of a cluster rendered by deploy.Render,
// reached with client-go. It implements deploy.StatefulSetAPI.
type StatefulSet struct {
	cfg Config
}

var _ deploy.StatefulSetAPI = (*StatefulSet)(nil)

// New returns the StatefulSet cfg names. It fails only on a config that
// lacks a required field.
func New(cfg Config) (*StatefulSet, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.Name == "" {
		return nil, errors.New("kube: Config.Client, Namespace and Name are required")
	}
	if cfg.Container == "" {
		cfg.Container = "kvstore"
	}
	return &StatefulSet{cfg: cfg}, nil
}

// NewClient returns a client of the cluster that kubeconfig (a file; ""
// for $KUBECONFIG or ~/.kube/config) and context ("" for its current
// context) name, or of the cluster this process runs in, when kubeconfig
// is "" and it runs in a pod.
func NewClient(kubeconfig, context string) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" && context == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		cfg, err = rest.InClusterConfig()
	} else {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = kubeconfig
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kube: client config: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}

func (s *StatefulSet) get(ctx context.Context) (*appsv1.StatefulSet, error) {
	sts, err := s.cfg.Client.AppsV1().StatefulSets(s.cfg.Namespace).Get(ctx, s.cfg.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("kube: StatefulSet %s/%s: %w", s.cfg.Namespace, s.cfg.Name, err)
	}
	if t := sts.Spec.UpdateStrategy.Type; t != "" && t != appsv1.RollingUpdateStatefulSetStrategyType {
		return nil, fmt.Errorf("kube: StatefulSet %s/%s has update strategy %s; the update steps a RollingUpdate's partition (render the manifests again)", s.cfg.Namespace, s.cfg.Name, t)
	}
	return sts, nil
}

func container(spec corev1.PodSpec, name string) (corev1.Container, bool) {
	for _, c := range spec.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return corev1.Container{}, false
}

// Get returns the StatefulSet and its pods (those its selector matches
// whose names carry an ordinal).
func (s *StatefulSet) Get(ctx context.Context) (deploy.StatefulSetState, error) {
	sts, err := s.get(ctx)
	if err != nil {
		return deploy.StatefulSetState{}, err
	}
	out := deploy.StatefulSetState{Replicas: 1, PreviousImage: sts.Annotations[PreviousImageAnnotation]}
	if sts.Spec.Replicas != nil {
		out.Replicas = int(*sts.Spec.Replicas)
	}
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		out.Partition = int(*ru.Partition)
	}
	c, ok := container(sts.Spec.Template.Spec, s.cfg.Container)
	if !ok {
		return out, fmt.Errorf("kube: StatefulSet %s/%s has no container %q", s.cfg.Namespace, s.cfg.Name, s.cfg.Container)
	}
	out.Image = c.Image
	selector, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		return out, fmt.Errorf("kube: StatefulSet %s/%s selector: %w", s.cfg.Namespace, s.cfg.Name, err)
	}
	pods, err := s.cfg.Client.CoreV1().Pods(s.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return out, fmt.Errorf("kube: pods of %s/%s: %w", s.cfg.Namespace, s.cfg.Name, err)
	}
	for _, p := range pods.Items {
		ordinal, err := strconv.Atoi(strings.TrimPrefix(p.Name, s.cfg.Name+"-"))
		if err != nil || !strings.HasPrefix(p.Name, s.cfg.Name+"-") || ordinal < 0 {
			continue
		}
		out.Pods = append(out.Pods, s.pod(p, ordinal))
	}
	return out, nil
}

// pod describes pod p of ordinal.
func (s *StatefulSet) pod(p corev1.Pod, ordinal int) deploy.PodState {
	ps := deploy.PodState{Ordinal: ordinal, Name: p.Name, Deleting: p.DeletionTimestamp != nil}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			ps.Ready = cond.Status == corev1.ConditionTrue
		}
	}
	c, ok := container(p.Spec, s.cfg.Container)
	if ok {
		ps.Image = c.Image
		if p.Status.PodIP != "" {
			for _, port := range c.Ports {
				addr := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port.ContainerPort)))
				switch port.Name {
				case "raft":
					ps.RaftAddr = addr
				case "http":
					ps.HTTPAddr = addr
				}
			}
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != s.cfg.Container {
			continue
		}
		ps.Restarts = int(cs.RestartCount)
		term := cs.LastTerminationState.Terminated
		if cs.State.Terminated != nil {
			term = cs.State.Terminated
		}
		if term != nil {
			ps.LastTermination = fmt.Sprintf("exit code %d (%s)", term.ExitCode, term.Reason)
			if msg := strings.TrimSpace(term.Message); msg != "" {
				ps.LastTermination += ":\n" + msg
			}
		}
		if w := cs.State.Waiting; w != nil && w.Reason != "" && ps.LastTermination != "" {
			ps.LastTermination = w.Reason + ", last " + ps.LastTermination
		}
	}
	return ps
}

// patch applies a strategic merge patch to the StatefulSet.
func (s *StatefulSet) patch(ctx context.Context, patch map[string]any) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Client.AppsV1().StatefulSets(s.cfg.Namespace).Patch(ctx, s.cfg.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("kube: patch StatefulSet %s/%s: %w", s.cfg.Namespace, s.cfg.Name, err)
	}
	return nil
}

func partitionPatch(partition int) map[string]any {
	return map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"partition": partition}}
}

// SetPartition sets the RollingUpdate's partition.
func (s *StatefulSet) SetPartition(ctx context.Context, partition int) error {
	return s.patch(ctx, map[string]any{"spec": map[string]any{"updateStrategy": partitionPatch(partition)}})
}

// SetImage sets the app container's image, the previous-image annotation
// and the partition in one patch.
func (s *StatefulSet) SetImage(ctx context.Context, image, previous string, partition int) error {
	return s.patch(ctx, map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{PreviousImageAnnotation: previous}},
		"spec": map[string]any{
			"updateStrategy": partitionPatch(partition),
			"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": s.cfg.Container, "image": image}},
			}},
		},
	})
}

// DeletePod deletes the pod of ordinal; one already gone is no error.
func (s *StatefulSet) DeletePod(ctx context.Context, ordinal int) error {
	name := fmt.Sprintf("%s-%d", s.cfg.Name, ordinal)
	err := s.cfg.Client.CoreV1().Pods(s.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kube: delete pod %s/%s: %w", s.cfg.Namespace, name, err)
	}
	return nil
}
