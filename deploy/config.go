package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Config is a DeploymentConfig: one cluster, its nodes and how to run,
// update and watch them. It is read from YAML by Load or Parse; unknown keys
// are refused. Zero values take the defaults of the Environment's preset
// (see EnvironmentPreset).
type Config struct {
	// ClusterName names the cluster in rendered units and manifests: a DNS
	// label (lowercase letters, digits and '-'). Required.
	ClusterName string `json:"cluster_name"`
	// Environment picks the preset of defaults and rules: development,
	// testing, staging or production. Default: development.
	Environment string `json:"environment,omitempty"`
	// Binary is the application to run (kvstore); its serve flags are
	// derived per node. Required by the local driver.
	Binary string `json:"binary,omitempty"`
	// ClusterSecretFile holds the cluster secret (at least 32 bytes, mode
	// 0600) that members and the deploy tool authenticate with. Required by
	// the local driver.
	ClusterSecretFile string `json:"cluster_secret_file,omitempty"`
	// StateDir holds the local driver's pid files, logs, copies of the
	// binaries and the version each node runs. Default: "deploy-state".
	StateDir string `json:"state_dir,omitempty"`
	// Replicas is how many of Nodes form the cluster at bootstrap (the
	// first Replicas entries); the other entries are slots that scaling up
	// uses, in order. Default: every node.
	Replicas int `json:"replicas,omitempty"`
	// Store is the app's --store: pebble, badger or wal. Default: pebble.
	Store string `json:"store,omitempty"`
	// RaftPreset is the app's --preset: production, development or
	// testing. Default: the environment's.
	RaftPreset string `json:"raft_preset,omitempty"`
	// LogLevel is the app's --log-level. Default: info.
	LogLevel string `json:"log_level,omitempty"`
	// ExtraArgs are appended to every node's serve flags.
	ExtraArgs []string `json:"extra_args,omitempty"`
	// Nodes are the cluster's members and the slots it may grow into. Node
	// ids are never reused once a node was removed.
	Nodes []Node `json:"nodes"`

	Monitoring Monitoring   `json:"monitoring,omitempty"`
	Backup     Backup       `json:"backup,omitempty"`
	Update     UpdatePolicy `json:"update,omitempty"`
	Systemd    Systemd      `json:"systemd,omitempty"`
	Kubernetes Kubernetes   `json:"kubernetes,omitempty"`

	// baseDir resolves relative paths: the config file's directory.
	baseDir string
}

// Node is one member (or scaling slot) of the cluster.
type Node struct {
	// NodeID is the raft id: positive, unique. Required.
	NodeID uint64 `json:"node_id"`
	// Hostname is the address the node listens on and is reached at.
	// Required.
	Hostname string `json:"hostname"`
	// Port is the raft (QUIC, UDP) port; jangadactl reaches it too. Required.
	Port int `json:"port"`
	// HTTPPort is the app's HTTP API port (and /ready, /metrics). Required.
	HTTPPort int `json:"http_port"`
	// DataDir holds the node's identity and stores. Default:
	// "data/node<ID>".
	DataDir string `json:"data_dir,omitempty"`
	// Resources bound the node's process.
	Resources Resources `json:"resources,omitempty"`
}

// Resources are a node's limits. A zero value sets no limit.
type Resources struct {
	// MaxMemoryMB caps the process's memory: GOMEMLIMIT at 90% of it
	// (local and systemd), systemd MemoryMax, the Kubernetes memory limit.
	MaxMemoryMB int `json:"max_memory_mb,omitempty"`
	// MaxDiskGB sizes the Kubernetes volume claim. The local and systemd
	// drivers do not enforce it.
	MaxDiskGB int `json:"max_disk_gb,omitempty"`
	// MaxConnections sets the open-file limit (systemd LimitNOFILE, with
	// 1024 spare descriptors for the stores); the app has no connection cap
	// of its own.
	MaxConnections int `json:"max_connections,omitempty"`
	// MaxCPU is the Kubernetes CPU limit in cores and systemd CPUQuota.
	MaxCPU float64 `json:"max_cpu,omitempty"`
}

// Monitoring configures health checks and metrics scraping.
type Monitoring struct {
	// HealthCheckIntervalSeconds is the readiness probe period (Kubernetes)
	// and the polling period of the deploy tool's health gates, in
	// seconds. Default: the environment's.
	HealthCheckIntervalSeconds int `json:"health_check_interval_seconds,omitempty"`
	// ScrapeIntervalSeconds is the Prometheus scrape interval of the
	// ServiceMonitor. Default: 30.
	ScrapeIntervalSeconds int `json:"scrape_interval_seconds,omitempty"`
	// ServiceMonitor renders a prometheus-operator ServiceMonitor for
	// Kubernetes. Default: true.
	ServiceMonitor *bool `json:"service_monitor,omitempty"`
}

// Backup is the backup policy. When enabled, every node gets kvstore's
// scheduled-backup flags (--backup-schedule, --backup-to, --backup-retain):
// each node runs the schedule and the leader backs up.
type Backup struct {
	Enabled bool `json:"enabled,omitempty"`
	// Schedule is a five-field cron expression ("0 2 * * *"). Required when
	// Enabled.
	Schedule string `json:"schedule,omitempty"`
	// RetentionCount is how many backups to keep. Default: 7.
	RetentionCount int `json:"retention_count,omitempty"`
	// StorageLocation is a directory or an s3:// URL. Required when
	// Enabled.
	StorageLocation string `json:"storage_location,omitempty"`
}

// UpdatePolicy bounds the steps of bootstrap, rolling updates and scaling.
type UpdatePolicy struct {
	// MaxLag is how far (in log entries) behind the leader's commit index
	// a node may be and count as caught up. Default: the environment's.
	MaxLag uint64 `json:"max_lag,omitempty"`
	// HealthTimeoutSeconds bounds the wait for one node to become healthy
	// and caught up. Default: the environment's.
	HealthTimeoutSeconds int `json:"health_timeout_seconds,omitempty"`
	// StopTimeoutSeconds bounds a graceful stop (SIGTERM) before the
	// process is killed. Default: the environment's.
	StopTimeoutSeconds int `json:"stop_timeout_seconds,omitempty"`
}

// Systemd configures the systemd renderer: where things live on the hosts.
type Systemd struct {
	// BinaryPath is the app on each host. Default: /usr/local/bin/kvstore.
	BinaryPath string `json:"binary_path,omitempty"`
	// ConfigDir holds the env files and the cluster secret on each host.
	// Default: /etc/jangada/<cluster_name>.
	ConfigDir string `json:"config_dir,omitempty"`
	// DataRoot holds the nodes' data directories (DataRoot/node<ID>).
	// Default: /var/lib/jangada/<cluster_name>.
	DataRoot string `json:"data_root,omitempty"`
	// User and Group run the service. Default: jangada.
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
}

// Kubernetes configures the Kubernetes renderer.
type Kubernetes struct {
	// Namespace of every object. Default: default.
	Namespace string `json:"namespace,omitempty"`
	// Image runs the app; it must also hold jangadactl (the preStop hook
	// hands leadership away with it). Required for the kubernetes target.
	Image string `json:"image,omitempty"`
	// ImagePullPolicy: Always, IfNotPresent or Never. Default: IfNotPresent.
	ImagePullPolicy string `json:"image_pull_policy,omitempty"`
	// AppPath and CtlPath are the app and jangadactl in the image.
	// Defaults: /usr/local/bin/kvstore, /usr/local/bin/jangadactl.
	AppPath string `json:"app_path,omitempty"`
	CtlPath string `json:"ctl_path,omitempty"`
	// SecretName is the Secret holding the cluster secret under the key
	// "cluster-secret". Default: <cluster_name>-cluster-secret.
	SecretName string `json:"secret_name,omitempty"`
	// StorageClass of the volume claims. Default: the cluster's default.
	StorageClass string `json:"storage_class,omitempty"`
}

// Environments, each with a preset.
const (
	Development = "development"
	Testing     = "testing"
	Staging     = "staging"
	Production  = "production"
)

// Preset is an environment's defaults.
type Preset struct {
	RaftPreset          string
	MaxLag              uint64
	HealthTimeout       time.Duration
	StopTimeout         time.Duration
	HealthCheckInterval time.Duration
	// Rules: production needs at least three voters, an odd number of
	// them, and a memory limit on every node.
	MinReplicas       int
	OddReplicas       bool
	RequireMemoryCaps bool
}

// EnvironmentPreset returns env's preset, or false for an unknown env.
func EnvironmentPreset(env string) (Preset, bool) {
	switch env {
	case Development:
		return Preset{RaftPreset: "development", MaxLag: 1000, HealthTimeout: 60 * time.Second, StopTimeout: 30 * time.Second, HealthCheckInterval: 5 * time.Second, MinReplicas: 1}, true
	case Testing:
		return Preset{RaftPreset: "testing", MaxLag: 200, HealthTimeout: 30 * time.Second, StopTimeout: 15 * time.Second, HealthCheckInterval: time.Second, MinReplicas: 1}, true
	case Staging:
		return Preset{RaftPreset: "production", MaxLag: 100, HealthTimeout: 120 * time.Second, StopTimeout: 30 * time.Second, HealthCheckInterval: 10 * time.Second, MinReplicas: 3}, true
	case Production:
		return Preset{RaftPreset: "production", MaxLag: 100, HealthTimeout: 300 * time.Second, StopTimeout: 60 * time.Second, HealthCheckInterval: 10 * time.Second, MinReplicas: 3, OddReplicas: true, RequireMemoryCaps: true}, true
	}
	return Preset{}, false
}

// FieldError is one problem in a Config: which field, what is wrong and
// what would be right. It wraps ErrInvalidConfig.
type FieldError struct {
	Field   string // "nodes[1].port"
	Problem string // "70000 is not a port"
	Want    string // "a number from 1 to 65535"
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s; want %s", e.Field, e.Problem, e.Want)
}

func (e *FieldError) Unwrap() error { return ErrInvalidConfig }

// ValidationError is every problem Validate found, one *FieldError each.
// It wraps ErrInvalidConfig and each FieldError.
type ValidationError struct {
	Problems []*FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("%v: %v", ErrInvalidConfig, e.Problems[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d problems:", ErrInvalidConfig, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.Error())
	}
	return b.String()
}

func (e *ValidationError) Unwrap() []error {
	out := []error{ErrInvalidConfig}
	for _, p := range e.Problems {
		out = append(out, p)
	}
	return out
}

// Load reads and validates the DeploymentConfig in the YAML file path.
// Relative paths in it are relative to the file's directory. Errors wrap
// ErrInvalidConfig (every problem found, each a *FieldError) or the read
// error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deploy: read config: %w", err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("deploy: config path: %w", err)
	}
	cfg, err := Parse(data, abs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes and validates a DeploymentConfig; relative paths resolve
// against baseDir. Unknown keys are refused.
func Parse(data []byte, baseDir string) (*Config, error) {
	var cfg Config
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		msg := strings.TrimPrefix(err.Error(), "error unmarshaling JSON: while decoding JSON: ")
		msg = strings.TrimPrefix(msg, "json: ")
		return nil, fmt.Errorf("%w: %s (the keys are listed in deploy/README.md)", ErrInvalidConfig, msg)
	}
	cfg.baseDir = baseDir
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Path resolves p (a path from the config) against the config's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.baseDir == "" {
		return p
	}
	return filepath.Join(c.baseDir, p)
}

func (c *Config) applyDefaults() {
	if c.Environment == "" {
		c.Environment = Development
	}
	p, ok := EnvironmentPreset(c.Environment)
	if !ok {
		return // Validate reports it
	}
	if c.StateDir == "" {
		c.StateDir = "deploy-state"
	}
	if c.Replicas == 0 {
		c.Replicas = len(c.Nodes)
	}
	if c.Store == "" {
		c.Store = "pebble"
	}
	if c.RaftPreset == "" {
		c.RaftPreset = p.RaftPreset
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	for i := range c.Nodes {
		if c.Nodes[i].DataDir == "" {
			c.Nodes[i].DataDir = filepath.Join("data", fmt.Sprintf("node%d", c.Nodes[i].NodeID))
		}
	}
	if c.Monitoring.HealthCheckIntervalSeconds == 0 {
		c.Monitoring.HealthCheckIntervalSeconds = int(p.HealthCheckInterval / time.Second)
	}
	if c.Monitoring.ScrapeIntervalSeconds == 0 {
		c.Monitoring.ScrapeIntervalSeconds = 30
	}
	if c.Monitoring.ServiceMonitor == nil {
		yes := true
		c.Monitoring.ServiceMonitor = &yes
	}
	if c.Backup.RetentionCount == 0 {
		c.Backup.RetentionCount = 7
	}
	if c.Update.MaxLag == 0 {
		c.Update.MaxLag = p.MaxLag
	}
	if c.Update.HealthTimeoutSeconds == 0 {
		c.Update.HealthTimeoutSeconds = int(p.HealthTimeout / time.Second)
	}
	if c.Update.StopTimeoutSeconds == 0 {
		c.Update.StopTimeoutSeconds = int(p.StopTimeout / time.Second)
	}
	s := &c.Systemd
	if s.BinaryPath == "" {
		s.BinaryPath = "/usr/local/bin/kvstore"
	}
	if s.ConfigDir == "" {
		s.ConfigDir = "/etc/jangada/" + c.ClusterName
	}
	if s.DataRoot == "" {
		s.DataRoot = "/var/lib/jangada/" + c.ClusterName
	}
	if s.User == "" {
		s.User = "jangada"
	}
	if s.Group == "" {
		s.Group = s.User
	}
	k := &c.Kubernetes
	if k.Namespace == "" {
		k.Namespace = "default"
	}
	if k.ImagePullPolicy == "" {
		k.ImagePullPolicy = "IfNotPresent"
	}
	if k.AppPath == "" {
		k.AppPath = "/usr/local/bin/kvstore"
	}
	if k.CtlPath == "" {
		k.CtlPath = "/usr/local/bin/jangadactl"
	}
	if k.SecretName == "" {
		k.SecretName = c.ClusterName + "-cluster-secret"
	}
}

// defaulted returns a copy of c with the defaults applied.
func (c *Config) defaulted() *Config {
	d := *c
	d.Nodes = slices.Clone(c.Nodes)
	d.ExtraArgs = slices.Clone(c.ExtraArgs)
	d.applyDefaults()
	return &d
}

// Validate reports every problem of c, with the defaults applied to zero
// values, in one *ValidationError, or nil.
func (c *Config) Validate() error {
	c = c.defaulted()
	var errs []*FieldError
	bad := func(field, problem, want string) {
		errs = append(errs, &FieldError{Field: field, Problem: problem, Want: want})
	}
	if !isDNSLabel(c.ClusterName) {
		bad("cluster_name", fmt.Sprintf("%q is not a DNS label", c.ClusterName), "1-40 lowercase letters, digits or '-', starting with a letter (it names units and Kubernetes objects)")
	}
	preset, ok := EnvironmentPreset(c.Environment)
	if !ok {
		bad("environment", fmt.Sprintf("unknown environment %q", c.Environment), "development, testing, staging or production")
	}
	if !slices.Contains([]string{"pebble", "badger", "wal"}, c.Store) {
		bad("store", fmt.Sprintf("unknown store %q", c.Store), "pebble, badger or wal (memory loses data on every restart)")
	}
	if !slices.Contains([]string{"production", "development", "testing"}, c.RaftPreset) {
		bad("raft_preset", fmt.Sprintf("unknown preset %q", c.RaftPreset), "production, development or testing")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("log_level", fmt.Sprintf("unknown level %q", c.LogLevel), "debug, info, warn or error")
	}
	for i, a := range c.ExtraArgs {
		for _, owned := range ownedFlags {
			if a == owned || strings.HasPrefix(a, owned+"=") {
				bad(fmt.Sprintf("extra_args[%d]", i), fmt.Sprintf("%s is set by the deploy tool", owned), "the matching config field instead (node_id, data_dir, hostname/port, http_port, cluster_secret_file, store, raft_preset, log_level)")
			}
		}
		if strings.HasPrefix(a, "--cluster-secret") && !strings.HasPrefix(a, "--cluster-secret-accepted-file") {
			bad(fmt.Sprintf("extra_args[%d]", i), "a cluster secret on the command line is visible to every user in ps", "cluster_secret_file")
		}
	}
	if len(c.Nodes) == 0 {
		bad("nodes", "no nodes", "at least one entry with node_id, hostname, port and http_port")
	}
	ids := map[uint64]int{}
	addrs := map[string]string{}
	for i, n := range c.Nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		if n.NodeID == 0 {
			bad(f+".node_id", "missing or 0", "a positive integer, unique in the cluster")
		} else if j, dup := ids[n.NodeID]; dup {
			bad(f+".node_id", fmt.Sprintf("%d is also nodes[%d]'s id", n.NodeID, j), "a unique id")
		} else {
			ids[n.NodeID] = i
		}
		if n.Hostname == "" || strings.ContainsAny(n.Hostname, " /:") && net.ParseIP(n.Hostname) == nil {
			bad(f+".hostname", fmt.Sprintf("%q is not a host name or IP address", n.Hostname), "a host name or IP address, such as 127.0.0.1")
		}
		for _, p := range []struct {
			name string
			v    int
		}{{"port", n.Port}, {"http_port", n.HTTPPort}} {
			if p.v < 1 || p.v > 65535 {
				bad(f+"."+p.name, fmt.Sprintf("%d is not a port", p.v), "a number from 1 to 65535")
				continue
			}
			proto := "udp"
			if p.name == "http_port" {
				proto = "tcp"
			}
			key := proto + "/" + net.JoinHostPort(n.Hostname, strconv.Itoa(p.v))
			if other, dup := addrs[key]; dup {
				bad(f+"."+p.name, fmt.Sprintf("%s %s is also %s", proto, key[4:], other), "a distinct port per node on one host")
			}
			addrs[key] = f + "." + p.name
		}
		r := n.Resources
		if r.MaxMemoryMB < 0 || r.MaxDiskGB < 0 || r.MaxConnections < 0 || r.MaxCPU < 0 {
			bad(f+".resources", "a negative limit", "positive limits, or 0 for none")
		} else if r.MaxMemoryMB > 0 && r.MaxMemoryMB < 64 {
			bad(f+".resources.max_memory_mb", fmt.Sprintf("%d MB is too little for a node", r.MaxMemoryMB), "at least 64")
		}
		if ok && preset.RequireMemoryCaps && r.MaxMemoryMB == 0 {
			bad(f+".resources.max_memory_mb", "no memory limit in "+c.Environment, "a limit in MB, such as 1024")
		}
	}
	if c.Replicas < 1 || c.Replicas > len(c.Nodes) {
		bad("replicas", fmt.Sprintf("%d with %d nodes listed", c.Replicas, len(c.Nodes)), fmt.Sprintf("1 to %d (the first replicas nodes form the cluster; the rest are slots for scaling)", len(c.Nodes)))
	} else if ok {
		if c.Replicas < preset.MinReplicas {
			bad("replicas", fmt.Sprintf("%d voters in %s", c.Replicas, c.Environment), fmt.Sprintf("at least %d, so that one node can fail or be updated", preset.MinReplicas))
		}
		if preset.OddReplicas && c.Replicas%2 == 0 {
			bad("replicas", fmt.Sprintf("%d voters tolerate no more failures than %d", c.Replicas, c.Replicas-1), "an odd number")
		}
	}
	m := c.Monitoring
	if m.HealthCheckIntervalSeconds < 1 || m.HealthCheckIntervalSeconds > 3600 {
		bad("monitoring.health_check_interval_seconds", strconv.Itoa(m.HealthCheckIntervalSeconds), "1 to 3600")
	}
	if m.ScrapeIntervalSeconds < 1 || m.ScrapeIntervalSeconds > 3600 {
		bad("monitoring.scrape_interval_seconds", strconv.Itoa(m.ScrapeIntervalSeconds), "1 to 3600")
	}
	b := c.Backup
	if b.Enabled {
		if err := checkCron(b.Schedule); err != nil {
			bad("backup.schedule", err.Error(), `five cron fields "minute hour day-of-month month day-of-week", such as "0 2 * * *"`)
		}
		if b.StorageLocation == "" {
			bad("backup.storage_location", "missing with backups enabled", "a directory or an s3://bucket/prefix URL")
		}
	}
	if b.RetentionCount < 1 {
		bad("backup.retention_count", strconv.Itoa(b.RetentionCount), "at least 1")
	}
	u := c.Update
	if u.HealthTimeoutSeconds < 1 {
		bad("update.health_timeout_seconds", strconv.Itoa(u.HealthTimeoutSeconds), "at least 1")
	}
	if u.StopTimeoutSeconds < 1 {
		bad("update.stop_timeout_seconds", strconv.Itoa(u.StopTimeoutSeconds), "at least 1")
	}
	if !slices.Contains([]string{"Always", "IfNotPresent", "Never"}, c.Kubernetes.ImagePullPolicy) {
		bad("kubernetes.image_pull_policy", fmt.Sprintf("%q", c.Kubernetes.ImagePullPolicy), "Always, IfNotPresent or Never")
	}
	if c.Kubernetes.Namespace != "" && !isDNSLabel(c.Kubernetes.Namespace) {
		bad("kubernetes.namespace", fmt.Sprintf("%q is not a DNS label", c.Kubernetes.Namespace), "lowercase letters, digits or '-'")
	}
	if len(errs) > 0 {
		return &ValidationError{Problems: errs}
	}
	return nil
}

// backupFlags returns the serve flags of the backup policy (none when
// disabled); location is where backups go, as the node sees it.
func (c *Config) backupFlags(location string) []string {
	b := c.Backup
	if !b.Enabled {
		return nil
	}
	return []string{"--backup-schedule", b.Schedule, "--backup-to", location, "--backup-retain", strconv.Itoa(b.RetentionCount)}
}

// ownedFlags are the serve flags the deploy tool sets itself.
var ownedFlags = []string{"--id", "--data-dir", "--listen", "--http", "--peers", "--join", "--store", "--preset", "--log-level", "--cluster-secret-file",
	"--backup-schedule", "--backup-to", "--backup-retain"}

// checkLocal reports what the local driver needs beyond Validate.
func (c *Config) checkLocal() error {
	var errs []*FieldError
	if c.Binary == "" {
		errs = append(errs, &FieldError{Field: "binary", Problem: "missing", Want: "the path of the app to run, such as ./bin/kvstore"})
	} else if st, err := os.Stat(c.Path(c.Binary)); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		errs = append(errs, &FieldError{Field: "binary", Problem: fmt.Sprintf("%s is not an executable file", c.Path(c.Binary)), Want: "the path of the built app (go build -o bin/kvstore ./apps/kvstore/cmd/kvstore)"})
	}
	if c.ClusterSecretFile == "" {
		errs = append(errs, &FieldError{Field: "cluster_secret_file", Problem: "missing", Want: "a file (mode 0600) holding a secret of 32 bytes or more"})
	} else if _, err := c.ClusterSecret(); err != nil {
		errs = append(errs, &FieldError{Field: "cluster_secret_file", Problem: err.Error(), Want: "a file (mode 0600) holding a secret of 32 bytes or more"})
	}
	if len(errs) > 0 {
		return &ValidationError{Problems: errs}
	}
	return nil
}

// ClusterSecret reads the cluster secret from ClusterSecretFile, refusing
// a file that group or others may read.
func (c *Config) ClusterSecret() ([]byte, error) {
	path := c.Path(c.ClusterSecretFile)
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %v: other users may read it (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	secret := []byte(strings.TrimSpace(string(data)))
	if len(secret) < 32 {
		return nil, fmt.Errorf("%s holds %d bytes", path, len(secret))
	}
	return secret, nil
}

// node returns the entry of id.
func (c *Config) node(id uint64) (Node, bool) {
	for _, n := range c.Nodes {
		if n.NodeID == id {
			return n, true
		}
	}
	return Node{}, false
}

// RaftAddr is the node's raft (and management) address.
func (n Node) RaftAddr() string { return net.JoinHostPort(n.Hostname, strconv.Itoa(n.Port)) }

// HTTPAddr is the node's HTTP API address.
func (n Node) HTTPAddr() string { return net.JoinHostPort(n.Hostname, strconv.Itoa(n.HTTPPort)) }

func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 40 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// checkCron checks the shape of a five-field cron expression: each field
// "*", a number, a range, a list or a step, within the field's bounds.
func checkCron(expr string) error {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return fmt.Errorf("%q has %d fields", expr, len(fields))
	}
	bounds := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}
	names := [5]string{"minute", "hour", "day of month", "month", "day of week"}
	for i, f := range fields {
		for part := range strings.SplitSeq(f, ",") {
			base, step, hasStep := strings.Cut(part, "/")
			if hasStep {
				if n, err := strconv.Atoi(step); err != nil || n < 1 {
					return fmt.Errorf("%s field %q: bad step", names[i], f)
				}
			}
			if base == "*" {
				continue
			}
			lo, hi, isRange := strings.Cut(base, "-")
			for _, v := range []string{lo, hi} {
				if v == "" && !isRange {
					continue
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < bounds[i][0] || n > bounds[i][1] {
					return fmt.Errorf("%s field %q: want %d-%d", names[i], f, bounds[i][0], bounds[i][1])
				}
			}
		}
	}
	return nil
}
