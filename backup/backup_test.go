package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/jangada-io/jangada/backup"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// kvSource serves the snapshot of a clustertest.KV holding n keys as the
// state at index 100, term 3.
func kvSource(t testing.TB, n int, valueSize int, seed uint64) (backup.Source, []byte) {
	t.Helper()
	kv := clustertest.NewKV()
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range n {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte('a' + rng.IntN(26))
		}
		kv.Data[fmt.Sprintf("key-%06d", i)] = string(v)
	}
	var buf bytes.Buffer
	if err := kv.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	state := buf.Bytes()
	return backup.SourceFunc(func(context.Context) (backup.State, error) {
		return backup.State{
			Node: 2, Index: 100, Term: 3, StateMachine: "kv",
			Members: []backup.Member{{ID: 1, Address: "a:1", Role: "voter"}, {ID: 2, Address: "a:2", Role: "voter"}},
			Body:    io.NopCloser(bytes.NewReader(state)),
		}, nil
	}), state
}

// roundTrip backs src up to target, verifies the backup with a scratch
// machine and restores it into fresh stores, whose snapshot must hold the
// same state.
func roundTrip(t *testing.T, target backup.Target, src backup.Source, state []byte) backup.Manifest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := backup.Create(ctx, target, src, backup.CreateOptions{ClusterID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if m.StateSize != int64(len(state)) || m.Index != 100 || m.Term != 3 || m.StateMachine != "kv" || len(m.Members) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	scratch := clustertest.NewKV()
	if _, err := backup.Verify(ctx, target, m.Name, backup.VerifyOptions{StateMachine: "kv", Scratch: scratch}); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	_ = scratch.Snapshot(&again)
	if !bytes.Equal(again.Bytes(), state) {
		t.Fatal("the scratch machine's state differs from the backed-up one")
	}
	ls, ss := raftcore.NewMemoryLogStore(), raftcore.NewMemorySnapshotStore()
	voters := []raftcore.Peer{{ID: 7, Addr: "new:7"}, {ID: 8, Addr: "new:8"}, {ID: 9, Addr: "new:9"}}
	if _, err := backup.Restore(ctx, target, "", backup.RestoreOptions{StateMachine: "kv", LogStore: ls, SnapshotStore: ss, Voters: voters}); err != nil {
		t.Fatal(err)
	}
	meta, rc, err := ss.Open(100)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	stored, _ := io.ReadAll(rc)
	if meta.Term != 3 || !bytes.HasSuffix(stored, state) || len(meta.ConfState.GetVoters()) != 3 {
		t.Fatalf("restored snapshot: meta %+v, %d bytes; want the state's %d bytes at its end", meta, len(stored), len(state))
	}
	return m
}

func TestDirectoryBackupRoundTrip(t *testing.T) {
	target, err := backup.NewDirTarget(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src, state := kvSource(t, 2000, 100, 1)
	m := roundTrip(t, target, src, state)
	list, err := backup.List(context.Background(), target)
	if err != nil || len(list) != 1 || list[0].Name != m.Name {
		t.Fatalf("list: %v, %v", list, err)
	}
}

// newFakeS3 serves an in-process S3 with bucket "backups" and points the
// standard environment's credentials at it.
func newFakeS3(t *testing.T) string {
	t.Helper()
	mem := s3mem.New()
	if err := mem.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test-access-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	return srv.URL
}

// A body of three parts goes up as a multipart upload and comes back whole.
func TestS3BackupRoundTripUsesMultipart(t *testing.T) {
	newFakeS3(t)
	target, err := backup.OpenTarget("s3://backups/cluster-a/nightly")
	if err != nil {
		t.Fatal(err)
	}
	src, state := kvSource(t, 700, 10<<10, 2) // 7 MiB of random letters, which zstd stores as they are
	s3t, err := backup.NewS3Target(backup.S3Config{Bucket: "backups", Prefix: "cluster-a/nightly", PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	m := roundTrip(t, s3t, src, state)
	if m.BodySize <= 5<<20 {
		t.Fatalf("body of %d bytes fits one part: the multipart path is not exercised", m.BodySize)
	}
	list, err := backup.List(context.Background(), target)
	if err != nil || len(list) != 1 || list[0].Name != m.Name {
		t.Fatalf("list through s3:// location: %v, %v", list, err)
	}
	if !strings.Contains(target.String(), "s3://backups/cluster-a/nightly") || strings.Contains(target.String(), "test-secret-key") {
		t.Fatalf("target describes itself as %q", target)
	}
	if err := s3t.Delete(context.Background(), m.Name); err != nil {
		t.Fatal(err)
	}
	if list, err := backup.List(context.Background(), target); err != nil || len(list) != 0 {
		t.Fatalf("after delete: %v, %v", list, err)
	}
}

func TestS3TargetRefusesWrongCredentials(t *testing.T) {
	newFakeS3(t)
	target, err := backup.NewS3Target(backup.S3Config{Bucket: "missing-bucket", Credentials: credentials.NewStaticV4("x", "y", "")})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := kvSource(t, 10, 10, 3)
	if _, err := backup.Create(context.Background(), target, src, backup.CreateOptions{}); err == nil {
		t.Fatal("backup into a missing bucket succeeded")
	}
}

// Damaged, truncated and foreign backups are refused with an error that
// names what is wrong; a restore of one leaves the stores empty.
func TestDamagedBackupsAreRefused(t *testing.T) {
	ctx := context.Background()
	src, _ := kvSource(t, 500, 200, 4)
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string, m backup.Manifest)
		want    error
		message string
	}{
		{"flipped body byte", func(t *testing.T, dir string, m backup.Manifest) {
			flip(t, filepath.Join(dir, m.Name, backup.BodyObject), m.BodySize/2)
		}, backup.ErrCorrupt, ""},
		{"truncated body", func(t *testing.T, dir string, m backup.Manifest) {
			if err := os.Truncate(filepath.Join(dir, m.Name, backup.BodyObject), m.BodySize-100); err != nil {
				t.Fatal(err)
			}
		}, backup.ErrCorrupt, ""},
		{"bytes appended to the body", func(t *testing.T, dir string, m backup.Manifest) {
			f, _ := os.OpenFile(filepath.Join(dir, m.Name, backup.BodyObject), os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("extra"))
			f.Close()
		}, backup.ErrCorrupt, ""},
		{"missing body", func(t *testing.T, dir string, m backup.Manifest) {
			os.Remove(filepath.Join(dir, m.Name, backup.BodyObject))
		}, backup.ErrCorrupt, "body state.zst is missing"},
		{"state checksum edited", func(t *testing.T, dir string, m backup.Manifest) {
			editManifest(t, dir, m, func(s string) string { return strings.Replace(s, m.StateSHA256, strings.Repeat("0", 64), 1) })
		}, backup.ErrCorrupt, "state SHA-256"},
		{"body checksum edited", func(t *testing.T, dir string, m backup.Manifest) {
			editManifest(t, dir, m, func(s string) string { return strings.Replace(s, m.BodySHA256, strings.Repeat("0", 64), 1) })
		}, backup.ErrCorrupt, "body SHA-256"},
		{"foreign manifest", func(t *testing.T, dir string, m backup.Manifest) {
			editManifest(t, dir, m, func(string) string { return `{"kind":"etcd-snapshot"}` })
		}, backup.ErrForeign, "etcd-snapshot"},
		{"not JSON", func(t *testing.T, dir string, m backup.Manifest) {
			editManifest(t, dir, m, func(string) string { return "PK\x03\x04 a zip file" })
		}, backup.ErrForeign, "not valid JSON"},
		{"later format", func(t *testing.T, dir string, m backup.Manifest) {
			editManifest(t, dir, m, func(s string) string { return strings.Replace(s, `"format": 1`, `"format": 2`, 1) })
		}, backup.ErrForeign, "format version 2"},
		{"other application", func(t *testing.T, dir string, m backup.Manifest) {
			editManifest(t, dir, m, func(s string) string {
				return strings.Replace(s, `"state_machine": "kv"`, `"state_machine": "bank"`, 1)
			})
		}, backup.ErrStateMachineMismatch, `holds state machine "bank", this application's is "kv"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			target, _ := backup.NewDirTarget(dir)
			m, err := backup.Create(ctx, target, src, backup.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, dir, m)
			_, verr := backup.Verify(ctx, target, m.Name, backup.VerifyOptions{StateMachine: "kv", Scratch: clustertest.NewKV()})
			ls, ss := raftcore.NewMemoryLogStore(), raftcore.NewMemorySnapshotStore()
			_, rerr := backup.Restore(ctx, target, m.Name, backup.RestoreOptions{
				StateMachine: "kv", LogStore: ls, SnapshotStore: ss, Voters: []raftcore.Peer{{ID: 1, Addr: "a"}}})
			for what, err := range map[string]error{"verify": verr, "restore": rerr} {
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
					t.Errorf("%s: %v; want %v naming %q", what, err, tt.want, tt.message)
				}
			}
			if snaps, _ := ss.List(); len(snaps) != 0 {
				t.Errorf("a refused restore left snapshot %+v", snaps[0])
			}
			if last, _ := ls.LastIndex(); last != 0 {
				t.Errorf("a refused restore left a log")
			}
		})
	}
}

func flip(t *testing.T, path string, at int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[at] ^= 0x40
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func editManifest(t *testing.T, dir string, m backup.Manifest, edit func(string) string) {
	t.Helper()
	path := filepath.Join(dir, m.Name, backup.ManifestObject)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(data))), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreRefusesUsedStores(t *testing.T) {
	ctx := context.Background()
	target, _ := backup.NewDirTarget(t.TempDir())
	src, _ := kvSource(t, 10, 10, 5)
	if _, err := backup.Create(ctx, target, src, backup.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ls, ss := raftcore.NewMemoryLogStore(), raftcore.NewMemorySnapshotStore()
	opts := backup.RestoreOptions{StateMachine: "kv", LogStore: ls, SnapshotStore: ss, Voters: []raftcore.Peer{{ID: 1, Addr: "a"}}}
	if _, err := backup.Restore(ctx, target, "", opts); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, target, "", opts); !errors.Is(err, raftcore.ErrInvalidConfig) {
		t.Fatalf("second restore into the same stores: %v", err)
	}
	if _, err := backup.Restore(ctx, target, "no-such-backup", opts); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("unknown name: %v", err)
	}
}
