package observe

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBackupMetricsRecordSuccessesAndFailures(t *testing.T) {
	o := newTestObserver(t, Config{})
	end := time.Unix(1_700_000_000, 0)
	o.BackupSucceeded(end, 3*time.Second, 4096)
	o.BackupFailed()
	o.BackupFailed()
	if got := testutil.ToFloat64(o.backup.lastSuccess); got != 1_700_000_000 {
		t.Errorf("backup_last_success_timestamp_seconds = %v", got)
	}
	if got := testutil.ToFloat64(o.backup.bytes); got != 4096 {
		t.Errorf("backup_bytes = %v", got)
	}
	if got := testutil.ToFloat64(o.backup.failures); got != 2 {
		t.Errorf("backup_failures_total = %v", got)
	}
	if n := testutil.CollectAndCount(o.backup.duration); n != 1 {
		t.Errorf("backup_duration_seconds has %d series", n)
	}
}
