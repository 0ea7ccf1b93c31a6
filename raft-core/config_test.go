package raftcore_test

import (
	"errors"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

func validConfig() raftcore.Config {
	return raftcore.Config{
		NodeID:        1,
		Peers:         []raftcore.Peer{{ID: 1}},
		Transport:     stepTransport{},
		LogStore:      raftcore.NewMemoryLogStore(),
		SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}
}

func TestConfigValidateRejectsBadInput(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*raftcore.Config)
	}{
		{"zero node id", func(c *raftcore.Config) { c.NodeID = 0 }},
		{"reserved node id", func(c *raftcore.Config) { c.NodeID = 1 << 63 }},
		{"no transport", func(c *raftcore.Config) { c.Transport = nil }},
		{"no log store", func(c *raftcore.Config) { c.LogStore = nil }},
		{"no snapshot store", func(c *raftcore.Config) { c.SnapshotStore = nil }},
		{"unknown preset", func(c *raftcore.Config) { c.Preset = 7 }},
		{"tick below a millisecond", func(c *raftcore.Config) { c.TickInterval = time.Microsecond }},
		{"heartbeat shorter than a tick", func(c *raftcore.Config) {
			c.TickInterval = 10 * time.Millisecond
			c.HeartbeatInterval = time.Millisecond
		}},
		{"election not above heartbeat", func(c *raftcore.Config) {
			c.HeartbeatInterval = time.Second
			c.ElectionTimeout = time.Second
		}},
		{"peer id zero", func(c *raftcore.Config) { c.Peers = append(c.Peers, raftcore.Peer{ID: 0}) }},
		{"peer listed twice", func(c *raftcore.Config) { c.Peers = append(c.Peers, raftcore.Peer{ID: 1}) }},
		{"negative queue", func(c *raftcore.Config) { c.ProposalQueueSize = -1 }},
		{"no snapshot retained", func(c *raftcore.Config) { c.SnapshotsRetained = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.modify(&cfg)
			if err := cfg.Validate(); !errors.Is(err, raftcore.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestParsePresetRoundTrips(t *testing.T) {
	for _, p := range []raftcore.Preset{raftcore.Production, raftcore.Development, raftcore.Testing} {
		got, err := raftcore.ParsePreset(p.String())
		if err != nil || got != p {
			t.Fatalf("ParsePreset(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := raftcore.ParsePreset("fast"); !errors.Is(err, raftcore.ErrInvalidConfig) {
		t.Fatalf("ParsePreset(fast) = %v, want ErrInvalidConfig", err)
	}
}

func TestStartRefusesBootstrapWithoutSelf(t *testing.T) {
	cfg := validConfig()
	cfg.Peers = []raftcore.Peer{{ID: 2}, {ID: 3}}
	_, err := raftcore.NewStepper(cfg, clustertest.NewKV(), clustertest.JSONCodec[clustertest.KVCommand]{}, 1)
	if !errors.Is(err, raftcore.ErrInvalidConfig) {
		t.Fatalf("bootstrap without self = %v, want ErrInvalidConfig", err)
	}
}
