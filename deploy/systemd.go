package deploy

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// renderSystemd writes, per node, jangada-<cluster>-node<ID>.service and
// node<ID>.env. The env file sets the app's serve flags through its
// KVSTORE_* variables. The first Replicas nodes bootstrap the cluster;
// the other entries start with KVSTORE_JOIN=true and wait to be added
// (jangadactl member add, then promote).
func renderSystemd(cfg *Config) ([]File, error) {
	s := cfg.Systemd
	for _, p := range []struct{ field, v string }{{"systemd.binary_path", s.BinaryPath}, {"systemd.config_dir", s.ConfigDir}, {"systemd.data_root", s.DataRoot}} {
		if !path.IsAbs(p.v) {
			return nil, &FieldError{Field: p.field, Problem: fmt.Sprintf("%q is not an absolute path", p.v), Want: "an absolute path on the hosts"}
		}
	}
	if !strings.HasPrefix(s.DataRoot, "/var/lib/") {
		return nil, &FieldError{Field: "systemd.data_root", Problem: fmt.Sprintf("%q is not under /var/lib", s.DataRoot), Want: "a directory under /var/lib (systemd StateDirectory= creates it for the service's user)"}
	}
	var peers []string
	for _, n := range cfg.Nodes[:cfg.Replicas] {
		peers = append(peers, fmt.Sprintf("%d=%s", n.NodeID, n.RaftAddr()))
	}
	var files []File
	for i, n := range cfg.Nodes {
		unit := fmt.Sprintf("jangada-%s-node%d", cfg.ClusterName, n.NodeID)
		envPath := path.Join(s.ConfigDir, fmt.Sprintf("node%d.env", n.NodeID))
		dataDir := path.Join(s.DataRoot, fmt.Sprintf("node%d", n.NodeID))
		join := i >= cfg.Replicas

		var env strings.Builder
		fmt.Fprintf(&env, "# %s node %d: kvstore serve settings (each flag --x-y is KVSTORE_X_Y).\n", cfg.ClusterName, n.NodeID)
		if join {
			fmt.Fprintf(&env, "# Not a bootstrap member: it starts empty and waits to be added:\n#   jangadactl member add %d %s --learner && jangadactl member promote %d\n", n.NodeID, n.RaftAddr(), n.NodeID)
		}
		kv := [][2]string{
			{"KVSTORE_ID", fmt.Sprint(n.NodeID)},
			{"KVSTORE_DATA_DIR", dataDir},
			{"KVSTORE_LISTEN", n.RaftAddr()},
			{"KVSTORE_HTTP", n.HTTPAddr()},
			{"KVSTORE_PEERS", strings.Join(peers, ",")},
			{"KVSTORE_CLUSTER_SECRET_FILE", path.Join(s.ConfigDir, "cluster-secret")},
			{"KVSTORE_STORE", cfg.Store},
			{"KVSTORE_PRESET", cfg.RaftPreset},
			{"KVSTORE_LOG_LEVEL", cfg.LogLevel},
			{"KVSTORE_STOP_TIMEOUT", fmt.Sprintf("%ds", cfg.Update.StopTimeoutSeconds)},
		}
		if join {
			kv = append(kv, [2]string{"KVSTORE_JOIN", "true"})
		}
		if b := cfg.Backup; b.Enabled {
			kv = append(kv, [2]string{"KVSTORE_BACKUP_SCHEDULE", b.Schedule}, [2]string{"KVSTORE_BACKUP_TO", b.StorageLocation},
				[2]string{"KVSTORE_BACKUP_RETAIN", strconv.Itoa(b.RetentionCount)})
		}
		if m := n.Resources.MaxMemoryMB; m > 0 {
			kv = append(kv, [2]string{"GOMEMLIMIT", fmt.Sprintf("%dMiB", m*9/10)})
		}
		for _, e := range kv {
			fmt.Fprintf(&env, "%s=%s\n", e[0], e[1])
		}

		var u strings.Builder
		fmt.Fprintf(&u, "# Rendered by jangadactl deploy render from the %s deployment config.\n", cfg.ClusterName)
		fmt.Fprintf(&u, "[Unit]\nDescription=jangada %s node %d (kvstore)\nAfter=network-online.target\nWants=network-online.target\n\n", cfg.ClusterName, n.NodeID)
		u.WriteString("[Service]\nType=exec\n")
		fmt.Fprintf(&u, "User=%s\nGroup=%s\n", s.User, s.Group)
		fmt.Fprintf(&u, "EnvironmentFile=%s\n", envPath)
		exec := s.BinaryPath + " serve"
		for _, a := range cfg.ExtraArgs {
			exec += " " + systemdQuote(a)
		}
		fmt.Fprintf(&u, "ExecStart=%s\n", exec)
		u.WriteString("# SIGTERM: the node hands leadership away, drains and closes its stores.\nKillSignal=SIGTERM\n")
		fmt.Fprintf(&u, "TimeoutStopSec=%d\n", cfg.Update.StopTimeoutSeconds+10)
		u.WriteString("Restart=on-failure\nRestartSec=2s\n")
		fmt.Fprintf(&u, "StateDirectory=%s\nStateDirectoryMode=0700\n", strings.TrimPrefix(dataDir, "/var/lib/"))
		r := n.Resources
		if r.MaxMemoryMB > 0 {
			fmt.Fprintf(&u, "MemoryMax=%dM\n", r.MaxMemoryMB)
		}
		if r.MaxCPU > 0 {
			fmt.Fprintf(&u, "CPUQuota=%d%%\n", int(r.MaxCPU*100))
		}
		if r.MaxConnections > 0 {
			fmt.Fprintf(&u, "LimitNOFILE=%d\n", r.MaxConnections+1024)
		}
		u.WriteString("NoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\nPrivateDevices=yes\n\n")
		u.WriteString("[Install]\nWantedBy=multi-user.target\n")

		files = append(files,
			File{Path: unit + ".service", Data: []byte(u.String())},
			File{Path: fmt.Sprintf("node%d.env", n.NodeID), Data: []byte(env.String())},
		)
	}
	return files, nil
}

// systemdQuote quotes an ExecStart argument when it needs it.
func systemdQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\$%;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `$$`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}
