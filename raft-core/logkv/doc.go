// Package logkv holds the building blocks of a raftcore.LogStore kept in an
// ordered key-value database: the keys of log entries, the checksummed
// records of entries and of the log's state, and a cache of the terms of the
// log's tail.
//
// The layout, shared by every store built on it:
//
//   - an entry is stored under EntryKey(index): EntryPrefix and the index in
//     big-endian, so that key order is log order;
//   - its value is the protobuf encoding of the raftpb.Entry preceded by a
//     little-endian CRC-32C of key and payload;
//   - the state record (hard state, snapshot metadata, compaction point and
//     last index) is one value under StateKey, checksummed the same way.
//
// State's Save, SetSnapshot and CheckCompact compute what
// raftcore.LogStore's writes do to the state, and its Term answers Term
// where the entries are not needed, so that a store only reads and writes
// records.
//
// Log is the half of such a store that does not depend on the database: it
// keeps the state and the term cache, answers raft.Storage's reads through a
// small Reader of entry records, and serialises writers against readers
// (Commit); a store adds its database's batches (Save, SetSnapshot,
// Compact) and its own opening checks. store-pebble and store-badger are
// built this way.
//
// A record that fails its checks decodes to an error wrapping
// raftcore.ErrCorrupt; decoding never panics on damaged bytes. Changing the
// layout makes existing data directories unreadable, so it is fixed by
// golden tests.
//
// A store writes entries and the state in one atomic batch and keeps the
// state in memory:
//
//	state := logkv.NewState()
//	if value, found := db.Get([]byte(logkv.StateKey)); found {
//		if state, err = logkv.DecodeState(value); err != nil {
//			return err // wraps raftcore.ErrCorrupt
//		}
//	}
//	// Save: one record per entry and the new state, in one batch.
//	next, entries, err := state.Save(hs, entries, snap)
//	...
//	for _, e := range entries {
//		key := logkv.EntryKey(e.GetIndex())
//		record, err := logkv.AppendEntryRecord(nil, key, e)
//		...
//		batch.Set(key, record)
//	}
//	value, err := next.Encode()
//	batch.Set([]byte(logkv.StateKey), value)
//	state = next // after the batch is durable
//	if len(entries) > 0 {
//		terms.Append(entries)
//	}
//
//	// Term: from the state or the cache, else from the entry's record.
//	if term, ok, err := state.Term(index); ok {
//		return term, err
//	}
//	if term, ok := terms.Lookup(index); ok {
//		return term, nil
//	}
//	e, _, err := logkv.DecodeEntry(key, db.Get(key))
package logkv
