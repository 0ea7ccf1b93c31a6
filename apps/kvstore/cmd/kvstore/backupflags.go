package main

import (
	"github.com/spf13/pflag"

	"github.com/jangada-io/jangada/apps/kvstore/app"
)

// addBackupFlags adds the serve flags of scheduled backups.
func addBackupFlags(f *pflag.FlagSet) {
	f.String("backup-schedule", "", `cron schedule of backups made by the leader, e.g. "0 3 * * *" or "@daily" (default: none)`)
	f.String("backup-to", "", "where scheduled backups go: a directory or s3://BUCKET/PREFIX (S3 endpoint and credentials from the standard AWS_* environment)")
	f.String("backup-retain", "", `backups kept after each scheduled one: N (the last N) or "last=N,daily=D,weekly=W" (default: all)`)
}

// applyBackupFlags sets cfg's backup fields from the flags.
func applyBackupFlags(f *pflag.FlagSet, cfg *app.Config) {
	cfg.BackupSchedule, _ = f.GetString("backup-schedule")
	cfg.BackupTo, _ = f.GetString("backup-to")
	cfg.BackupRetain, _ = f.GetString("backup-retain")
}
