package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/deploy"
	"github.com/jangada-io/jangada/deploy/kube"
)

// kubeUpdateFlags are update's flags for --target kubernetes.
type kubeUpdateFlags struct {
	target     string
	image      string
	kubeconfig string
	context    string
}

// addKubeUpdateFlags adds them to the update command.
func addKubeUpdateFlags(cmd *cobra.Command, f *kubeUpdateFlags) {
	cmd.Flags().StringVar(&f.target, "target", "local", "local (the local driver's processes) or kubernetes (the rendered StatefulSet)")
	cmd.Flags().StringVar(&f.image, "image", "", "kubernetes: the new image of the app container")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubernetes: kubeconfig file (default $KUBECONFIG or ~/.kube/config; in a pod, its service account)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubernetes: kubeconfig context (default its current one)")
}

// kubeUpdate is `deploy update --target kubernetes`: the StatefulSet's
// partition stepped down one ordinal at a time, behind the health gates.
func kubeUpdate(cmd *cobra.Command, g *globals, cfg *deploy.Config, f kubeUpdateFlags, rollback bool) error {
	if (f.image == "") == !rollback {
		return usageError{errors.New("--target kubernetes: give --image IMAGE or --rollback")}
	}
	secret, err := kubeSecret(g, cfg)
	if err != nil {
		return err
	}
	client, err := kube.NewClient(f.kubeconfig, f.context)
	if err != nil {
		return err
	}
	sts, err := kube.New(kube.Config{Client: client, Namespace: cfg.Kubernetes.Namespace, Name: cfg.ClusterName})
	if err != nil {
		return err
	}
	drv, err := deploy.NewKubernetesDriver(cfg, deploy.KubernetesDriverConfig{
		API:  sts,
		Dial: quicDial(secret),
		Progress: func(p deploy.Progress) {
			if !g.json {
				fmt.Fprintf(g.out, "%s %s\n", time.Now().Format("15:04:05.000"), p)
			}
		},
	})
	if err != nil {
		return deployError(err)
	}
	ctx := cmd.Context()
	if cmd.Flags().Changed("timeout") {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	var rep *deploy.UpdateReport
	if rollback {
		rep, err = drv.Rollback(ctx)
	} else {
		rep, err = drv.RollingUpdate(ctx, f.image)
	}
	if err != nil {
		return deployError(err)
	}
	return g.done(map[string]any{"from": rep.From, "to": rep.To, "updated": rep.Updated, "seconds": rep.Total.Seconds()},
		"updated nodes %v to %s in %v", rep.Updated, rep.To, rep.Total.Round(time.Millisecond))
}

// kubeSecret reads the cluster secret from --cluster-secret-file, or else
// from the config's cluster_secret_file.
func kubeSecret(g *globals, cfg *deploy.Config) ([]byte, error) {
	if g.secretFile != "" {
		data, err := os.ReadFile(g.secretFile)
		if err != nil {
			return nil, usageError{fmt.Errorf("--cluster-secret-file: %w", err)}
		}
		return []byte(strings.TrimSpace(string(data))), nil
	}
	if cfg.ClusterSecretFile == "" {
		return nil, usageError{errors.New("--target kubernetes needs the cluster secret: --cluster-secret-file FILE, or cluster_secret_file in the config")}
	}
	secret, err := cfg.ClusterSecret()
	if err != nil {
		return nil, usageError{fmt.Errorf("cluster_secret_file: %w", err)}
	}
	return secret, nil
}
