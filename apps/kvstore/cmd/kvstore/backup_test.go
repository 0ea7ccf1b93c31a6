package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/backup"
)

func TestBackupFlagsReachTheConfig(t *testing.T) {
	cfg, err := parseServe(t, "--backup-schedule", "@daily", "--backup-to", "s3://b/p", "--backup-retain", "last=3,weekly=2")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BackupSchedule != "@daily" || cfg.BackupTo != "s3://b/p" || cfg.BackupRetain != "last=3,weekly=2" {
		t.Fatalf("config %q %q %q", cfg.BackupSchedule, cfg.BackupTo, cfg.BackupRetain)
	}
	if _, err := parseServe(t, "--backup-to", "/b"); err == nil || !strings.Contains(err.Error(), "need a backup schedule") {
		t.Fatalf("a target without a schedule: %v", err)
	}
}

// verify-backup restores a kvstore backup into a scratch machine and
// refuses another application's.
func TestVerifyBackupRestoresIntoAScratchMachine(t *testing.T) {
	dir := t.TempDir()
	target, _ := backup.NewDirTarget(dir)
	m := kvstore.NewMachine()
	m.Apply(1, kvstore.Command{Op: kvstore.OpPut, Key: "a", Value: []byte("1")})
	m.Apply(2, kvstore.Command{Op: kvstore.OpPut, Key: "b", Value: []byte("2")})
	for _, name := range []string{"kvstore", "bank"} {
		var state bytes.Buffer
		_ = m.Snapshot(&state)
		src := backup.SourceFunc(func(context.Context) (backup.State, error) {
			return backup.State{Node: 1, Index: 2, Term: 1, StateMachine: name, Body: io.NopCloser(&state)}, nil
		})
		if _, err := backup.Create(context.Background(), target, src, backup.CreateOptions{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	root := newRootCommand(strings.NewReader(""), &out)
	root.SetArgs([]string{"verify-backup", dir, "--backup", "kvstore"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "backup kvstore restores: 2 keys at index 2") {
		t.Fatalf("verify-backup: %v, %q", err, out.String())
	}
	root = newRootCommand(strings.NewReader(""), &out)
	root.SetArgs([]string{"verify-backup", dir, "--backup", "bank"})
	if err := root.Execute(); !errors.Is(err, backup.ErrStateMachineMismatch) {
		t.Fatalf("verify-backup of another application's backup: %v", err)
	}
}
