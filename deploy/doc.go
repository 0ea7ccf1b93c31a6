// Package deploy runs a jangada cluster from a deployment config: bootstrap,
// zero-downtime rolling updates with rollback, and scaling, on this machine
// (the local driver) or rendered for systemd hosts and Kubernetes.
//
// A Config (the DeploymentConfig, YAML) names the cluster, its environment
// (whose preset sets defaults and rules), the app binary, the cluster secret
// file, a state directory and the nodes with their ports, data directories
// and resource limits, plus monitoring, backup and update policies. Load
// refuses unknown keys and reports every problem as a *FieldError naming the
// field, what is wrong and what would be right.
//
// The local driver starts each node as a background process (its own
// process group; log and pid file under the state directory) and carries
// out each operation step by step behind health gates: a node counts as
// healthy once its process runs, its management health checks pass, its
// /ready answers 200 and the leader sees it within update.max_lag entries.
//
//	cfg, err := deploy.Load("cluster.yaml")
//	if err != nil {
//		log.Fatal(err) // e.g. "nodes[1].port: 70000 is not a port; want a number from 1 to 65535"
//	}
//	local, err := deploy.NewLocal(cfg, deploy.LocalConfig{Dial: dial}) // dial: mgmt clients over QUIC
//	err = local.Up(ctx)                                                 // bootstrap, returns once healthy
//	rep, err := local.RollingUpdate(ctx, "bin/kvstore-v2")              // followers first, leader last
//	err = local.Scale(ctx, 5)                                           // learner, catch up, promote
//
// Render writes the same cluster as systemd units and env files, or as
// Kubernetes manifests (a StatefulSet with parallel pod management and a
// partitioned rolling update, a headless Service for DNS SRV discovery, a
// PodDisruptionBudget, readiness on /ready, a preStop hook that hands
// leadership away, a ServiceMonitor). NewKubernetesDriver updates such a
// StatefulSet: it steps the partition down one ordinal at a time behind the
// same gates, followers first and the leader last, through a StatefulSetAPI
// (the module deploy/kube implements it with client-go). The jangadactl CLI
// drives all of it: `jangadactl deploy up|down|status|update|scale|remove|render`,
// and `deploy update --target kubernetes --image IMAGE`.
package deploy
