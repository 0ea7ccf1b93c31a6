package app

import (
	"sync/atomic"

	"github.com/jangada-io/jangada/backup"
	"github.com/jangada-io/jangada/mgmt"
)

// BackupEventOp is the operation a scheduled backup attempt is recorded as
// in the management server's event history (jangadactl events): a call
// by the node itself, with the backup's index, or the error that failed
// it.
const BackupEventOp = "scheduled-backup"

// BackupEvents records the scheduled backups' attempts in the management
// server's event history once the server is mounted. It is in the graph
// when scheduled backups are configured.
type BackupEvents struct {
	srv atomic.Pointer[mgmt.Server]
}

func newBackupEvents() *BackupEvents { return &BackupEvents{} }

// mounted records the attempts in srv's history from now on.
func (e *BackupEvents) mounted(srv *mgmt.Server) {
	if e != nil {
		e.srv.Store(srv)
	}
}

// record records attempt r; skipped runs (not the leader) are not.
func (e *BackupEvents) record(r backup.Result) {
	if e == nil || r.Skipped {
		return
	}
	if srv := e.srv.Load(); srv != nil {
		srv.RecordOperation(BackupEventOp, r.Manifest.Index, r.Err)
	}
}
