package storebadger

import (
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
)

// rawTxn is a transaction on a badger database opened without the store,
// for tests that damage it.
type rawTxn struct{ txn *badger.Txn }

func (r rawTxn) Get(key []byte) ([]byte, error) {
	item, err := r.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func (r rawTxn) Set(key, value []byte) error { return r.txn.Set(key, value) }
func (r rawTxn) Delete(key []byte) error     { return r.txn.Delete(key) }

// tamper opens the store's badger database directly and applies change in
// one transaction.
func tamper(t *testing.T, dir string, change func(storetest.RawKV) error) {
	t.Helper()
	db, err := badger.Open(Config{Dir: dir}.withDefaults().badgerOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return change(rawTxn{txn}) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptRecordsAreReportedNotReturned also checks that entries left
// outside the log's bounds by a crash between a truncation or compaction
// and the deletion of what it discarded are deleted on Open.
func TestCorruptRecordsAreReportedNotReturned(t *testing.T) {
	storetest.RunCorruption(t, storetest.Corruption{
		Open: func(dir string) (raftcore.LogStore, error) {
			s, err := Open(Config{Dir: dir})
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		Tamper: tamper,
		Stray:  storetest.StrayEntriesDeleted,
	})
}
