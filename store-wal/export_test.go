package storewal

import (
	"github.com/jangada-io/jangada/raft-core/logkv"
	"github.com/jangada-io/jangada/raft-core/storetest"
)

// Tamper opens the closed store in dir below its checks and appends one
// record with change's operations, durably: the raw access that
// storetest.RunCorruption damages stores through.
func Tamper(dir string, change func(storetest.RawKV) error) error {
	lock, err := lockDir(osFS{}, dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	w := newWAL(osFS{}, dir, minSegmentSize)
	defer w.close()
	seqs, spares, err := listSegments(osFS{}, dir)
	if err != nil {
		return err
	}
	w.spares = spares
	for i, seq := range seqs {
		if err := w.replay(seq, i == len(seqs)-1); err != nil {
			return err
		}
	}
	w.b.reset()
	if err := change(rawKV{w}); err != nil {
		return err
	}
	_, _, _, err = w.append()
	return err
}

type rawKV struct{ w *wal }

func (kv rawKV) Get(key []byte) ([]byte, error) {
	l := kv.w.stateAt
	if string(key) != logkv.StateKey {
		i, _ := logkv.IndexOfKey(key)
		var ok bool
		if l, ok = kv.w.idx.get(i); !ok {
			return nil, nil
		}
	}
	return kv.w.read(l)
}

func (kv rawKV) Set(key, value []byte) error {
	return kv.w.b.set(key, func(dst []byte) ([]byte, error) { return append(dst, value...), nil })
}

func (kv rawKV) Delete(key []byte) error {
	kv.w.b.delete(key)
	return nil
}

// SegmentFiles returns the names of the store's segment and spare files.
func SegmentFiles(dir string) (segments []uint64, spares []string, err error) {
	return listSegments(osFS{}, dir)
}
