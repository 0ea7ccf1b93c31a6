package transportquic

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	key, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	valid := Config{NodeID: 1, Identity: key}
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"ZeroValuesMeanDefaults", func(*Config) {}, true},
		{"NodeIDZero", func(c *Config) { c.NodeID = 0 }, false},
		{"NoIdentity", func(c *Config) { c.Identity = nil }, false},
		{"TruncatedIdentity", func(c *Config) { c.Identity = key[:10] }, false},
		{"ShortClusterSecret", func(c *Config) { c.ClusterSecret = make([]byte, 31) }, false},
		{"ClusterSecret", func(c *Config) { c.ClusterSecret = make([]byte, 32) }, true},
		{"NegativeQueue", func(c *Config) { c.SendQueueSize = -1 }, false},
		{"NegativeTimeout", func(c *Config) { c.IdleTimeout = -time.Second }, false},
		{"ChunkLargerThanFrame", func(c *Config) { c.MaxFrameSize = 1 << 20; c.SnapshotChunkSize = 2 << 20 }, false},
		{"MinRedialAboveMax", func(c *Config) { c.MinRedialDelay = time.Minute }, false},
		{"BadTrustedKey", func(c *Config) { c.TrustedKeys = []ed25519.PublicKey{{1, 2}} }, false},
		{"TrustedKey", func(c *Config) { c.TrustedKeys = []ed25519.PublicKey{PublicKey(key)} }, true},
		{"AcceptedSecretsWithoutSecret", func(c *Config) { c.AcceptedClusterSecrets = [][]byte{make([]byte, 32)} }, false},
		{"ShortAcceptedSecret", func(c *Config) {
			c.ClusterSecret = make([]byte, 32)
			c.AcceptedClusterSecrets = [][]byte{make([]byte, 8)}
		}, false},
		{"AcceptedSecret", func(c *Config) {
			c.ClusterSecret = make([]byte, 32)
			c.AcceptedClusterSecrets = [][]byte{make([]byte, 32)}
		}, true},
		{"FrameBudgetBelowFrameSize", func(c *Config) { c.MaxFrameSize = 1 << 20; c.MaxFrameBytesPerPeer = 1 << 19 }, false},
		{"FrameBudgetOfOneFrame", func(c *Config) { c.MaxFrameSize = 1 << 20; c.MaxFrameBytesPerPeer = 1 << 20 }, true},
		{"NegativeConnectionLimit", func(c *Config) { c.MaxConnectionsPerPeer = -1 }, false},
		{"NegativeStreamLimit", func(c *Config) { c.MaxStreamsPerConnection = -1 }, false},
		{"NegativeSnapshotSize", func(c *Config) { c.MaxSnapshotSize = -1 }, false},
		{"NegativeReadTimeout", func(c *Config) { c.ReadTimeout = -time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			err := cfg.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New(Config{}) = %v, want ErrInvalidConfig", err)
	}
}
