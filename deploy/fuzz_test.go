package deploy

import (
	"errors"
	"testing"
)

// FuzzParse: any bytes either parse into a config that validates and
// renders, or fail with ErrInvalidConfig; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimalConfig))
	f.Add([]byte(minimalConfig + "environment: production\nreplicas: 2\n"))
	f.Add([]byte("cluster_name: x\nnodes: [null, {node_id: 1}]\n"))
	f.Add([]byte("cluster_name: x\nnodes:\n  - {node_id: 1, hostname: '::1', port: 1, http_port: 2}\nkubernetes: {image: i}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "/base")
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("a parsed config does not validate: %v", err)
		}
		if _, err := Render(cfg, TargetSystemd); err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("render systemd: %v", err)
		}
		if _, err := Render(cfg, TargetKubernetes); err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("render kubernetes: %v", err)
		}
	})
}
