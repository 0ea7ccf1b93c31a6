package bench

import (
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/jangada-io/jangada/bench/adapters"
	"github.com/jangada-io/jangada/bench/harness"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c harness.Config)
	}{
		{
			name: "full run defaults",
			args: nil,
			check: func(t *testing.T, c harness.Config) {
				if c.Duration != 2*time.Second || c.Warmup != 500*time.Millisecond || c.Rounds != 1 {
					t.Errorf("window %v+%v rounds %d", c.Warmup, c.Duration, c.Rounds)
				}
				if !slices.Equal(c.Clients, []int{1, 16, 64, 256}) || !slices.Equal(c.Sizes, []int{64, 4096}) {
					t.Errorf("clients %v sizes %v", c.Clients, c.Sizes)
				}
				if len(c.Skip) != 0 || len(c.Systems) != 0 || !slices.Equal(c.SnapshotSizes, []int64{64 << 20}) {
					t.Errorf("skip %v systems %v snapshots %v", c.Skip, c.Systems, c.SnapshotSizes)
				}
			},
		},
		{
			name: "quick narrows to the headline writes",
			args: []string{"-quick"},
			check: func(t *testing.T, c harness.Config) {
				if !slices.Equal(c.Systems, []string{"headline", harness.FsyncFloorSystem, harness.WALSystem, "jangada/quic+memory", "jangada/mem+memory", harness.FamilyCeiling}) || !slices.Equal(c.Clients, []int{1, 64, 256}) || !slices.Equal(c.Sizes, []int{64}) {
					t.Errorf("systems %v clients %v sizes %v", c.Systems, c.Clients, c.Sizes)
				}
				for _, g := range []string{"read", "lease", "failover", "catchup", "scaling", "api", "profile"} {
					if !c.Skips(g) {
						t.Errorf("quick does not skip %s", g)
					}
				}
				if c.Skips("write") {
					t.Error("quick skips writes")
				}
			},
		},
		{
			name: "lists and durations",
			args: []string{"-clients", "2, 8", "-sizes", "128", "-duration", "3s", "-systems", "hashicorp,jangada/mem+memory", "-skip", "api", "-large-snapshot"},
			check: func(t *testing.T, c harness.Config) {
				if !slices.Equal(c.Clients, []int{2, 8}) || !slices.Equal(c.Sizes, []int{128}) || c.Duration != 3*time.Second {
					t.Errorf("clients %v sizes %v duration %v", c.Clients, c.Sizes, c.Duration)
				}
				if !slices.Equal(c.Systems, []string{"hashicorp", "jangada/mem+memory"}) || !slices.Equal(c.Skip, []string{"api"}) {
					t.Errorf("systems %v skip %v", c.Systems, c.Skip)
				}
				if !slices.Equal(c.SnapshotSizes, []int64{64 << 20, 512 << 20}) {
					t.Errorf("snapshots %v", c.SnapshotSizes)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"negative clients", []string{"-clients", "-1"}},
		{"not a number", []string{"-sizes", "big"}},
		{"unknown scenario group", []string{"-skip", "teleport"}},
		{"unknown system", []string{"-systems", "zookeeper"}},
		{"cluster too small", []string{"-cluster-sizes", "2"}},
		{"command over 1 MiB", []string{"-sizes", "2000000"}},
		{"unknown flag", []string{"-fast"}},
		{"stray argument", []string{"now"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseFlags(tt.args, io.Discard); !errors.Is(err, harness.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestSelectSystems(t *testing.T) {
	tests := []struct {
		patterns []string
		want     []string
	}{
		{[]string{"headline"}, []string{harness.HeadlineJangada, harness.HeadlineHashicorp, harness.HeadlineEtcd}},
		{[]string{"hashicorp"}, []string{harness.HeadlineHashicorp, "hashicorp/tcp+inmem"}},
		{[]string{"jangada/mem*", "etcd-raft/chan+memory"}, []string{"jangada/mem+pebble", "jangada/mem+badger", "jangada/mem+memory", harness.FsyncFloorSystem, "etcd-raft/chan+memory"}},
		{[]string{harness.HeadlineEtcd, "etcd-raft"}, []string{harness.HeadlineEtcd, "etcd-raft/chan+memory"}},
	}
	for _, tt := range tests {
		got, err := harness.SelectSystems(adapters.Systems(), tt.patterns)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range got {
			names = append(names, s.Name)
		}
		if !slices.Equal(names, tt.want) {
			t.Errorf("%v selects %v, want %v", tt.patterns, names, tt.want)
		}
	}
	if all, _ := harness.SelectSystems(adapters.Systems(), nil); len(all) != 15 {
		t.Errorf("no pattern selects %d systems, want all 15", len(all))
	}
}

func TestPlanAlternatesSystemOrderBetweenRounds(t *testing.T) {
	cfg := harness.Config{Skip: []string{"read", "lease", "failover", "catchup", "scaling", "api", "profile"}, Clients: []int{1}, Sizes: []int{64}}.WithDefaults()
	systems, _ := harness.SelectSystems(adapters.Systems(), []string{"headline"})
	names := func(jobs []job) []string {
		var out []string
		for _, j := range jobs {
			out = append(out, j.system.Name)
		}
		return out
	}
	even, odd := names(plan(cfg, systems, 0)), names(plan(cfg, systems, 1))
	want := []string{harness.HeadlineJangada, harness.HeadlineHashicorp, harness.HeadlineEtcd}
	if !slices.Equal(even, want) {
		t.Fatalf("round 0 order %v, want %v", even, want)
	}
	slices.Reverse(want)
	if !slices.Equal(odd, want) {
		t.Fatalf("round 1 order %v, want %v", odd, want)
	}
}

func TestDiagnosticSystemsRunWritesOnly(t *testing.T) {
	cfg := harness.Config{}.WithDefaults()
	systems, _ := harness.SelectSystems(adapters.Systems(), []string{harness.FsyncFloorSystem})
	jobs := plan(cfg, systems, 0)
	if len(jobs) == 0 {
		t.Fatal("the fsync floor has no jobs")
	}
	for _, j := range jobs {
		if j.kind != jobMeasure {
			t.Fatalf("job kind %v for a diagnostic system", j.kind)
		}
		for _, it := range j.items {
			if it.scenario != harness.ScenarioWrite {
				t.Fatalf("scenario %v for a diagnostic system", it.scenario)
			}
		}
	}
}

func TestTargetRoundsMeasureOnlyTheTargetCells(t *testing.T) {
	cfg := harness.Config{}.WithDefaults()
	if cfg.TargetRounds != 5 || (harness.Config{Quick: true}).WithDefaults().TargetRounds != 3 || (harness.Config{Rounds: 7}).WithDefaults().TargetRounds != 7 {
		t.Fatalf("target rounds: full %d, quick %d, with 7 rounds %d; want 5, 3, 7", cfg.TargetRounds,
			(harness.Config{Quick: true}).WithDefaults().TargetRounds, (harness.Config{Rounds: 7}).WithDefaults().TargetRounds)
	}
	systems, _ := harness.SelectSystems(adapters.Systems(), nil)
	jobs := planTargets(cfg, systems, 1)
	var names []string
	for _, j := range jobs {
		names = append(names, j.system.Name)
		if j.kind != jobMeasure || j.spec.Nodes != 3 {
			t.Fatalf("%s: job kind %v on %d nodes", j.system.Name, j.kind, j.spec.Nodes)
		}
		var clients []int
		for _, it := range j.items {
			if it.scenario != harness.ScenarioWrite || it.size != 64 {
				t.Fatalf("%s: item %+v is not a 64 B write", j.system.Name, it)
			}
			clients = append(clients, it.clients)
		}
		if !slices.Equal(clients, harness.TargetClients) {
			t.Fatalf("%s: clients %v, want %v", j.system.Name, clients, harness.TargetClients)
		}
	}
	want := []string{harness.HeadlineEtcd, harness.HeadlineHashicorp, harness.FsyncFloorSystem, harness.HeadlineJangada} // odd round: reversed
	if !slices.Equal(names, want) {
		t.Fatalf("systems %v, want %v", names, want)
	}
	if jobs := planTargets(harness.Config{Skip: []string{"write"}}.WithDefaults(), systems, 1); len(jobs) != 0 {
		t.Fatalf("skipping writes still plans %d target jobs", len(jobs))
	}
}

func TestStoreWALRunsTheFiveNodeWriteMatrix(t *testing.T) {
	cfg := harness.Config{Skip: []string{"read", "lease", "failover", "catchup", "api", "profile"}, Clients: []int{64}, Sizes: []int{64, 4096}, ClusterSizes: []int{5}}.WithDefaults()
	systems, _ := harness.SelectSystems(adapters.Systems(), []string{harness.WALSystem, "jangada/quic+badger"})
	sizes := map[string][]int{}
	for _, j := range plan(cfg, systems, 0) {
		if j.spec.Nodes != 5 {
			continue
		}
		for _, it := range j.items {
			sizes[j.system.Name] = append(sizes[j.system.Name], it.size)
		}
	}
	if got := sizes[harness.WALSystem]; !slices.Equal(got, []int{64, 4096}) {
		t.Errorf("store-wal at 5 nodes writes sizes %v, want [64 4096]", got)
	}
	if got := sizes["jangada/quic+badger"]; !slices.Equal(got, []int{64}) {
		t.Errorf("quic+badger at 5 nodes writes sizes %v, want the 64 B cell only", got)
	}
}
