package storewal

import (
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// crashFS is an in-memory fileSystem that can take the image a power loss
// would leave on disk at any moment: crashImage. It models a disk behind a
// page cache with no guarantee beyond POSIX fsync semantics, as ext4 gives
// without relying on its journal's ordering of data:
//
//   - A file's writes since its last Sync or SyncData are unsynced: an image
//     keeps a random subset of them (each with the same probability, chosen
//     per image), in any order with respect to each other, and a kept write
//     may be torn: only a prefix of it, or a random subset of its sectors,
//     at 512-byte sector granularity (a sector is written whole or not at
//     all). Truncations (O_TRUNC) are unsynced writes too. Sync and SyncData
//     make every write of the file durable, its size included.
//   - Directory entries (a file created, a directory made, a rename, a
//     removal) are unsynced until their directory is synced: an image keeps
//     a prefix of each directory's unsynced operations, in the order they
//     were made, as a metadata journal does. A rename is atomic: an image
//     has the file under its old name or its new one. Syncing a file does
//     not make its name durable, nor syncing a directory its parent's entry
//     for it.
//   - A file's data and its directory entries are independent: an image may
//     keep a file's writes and lose its name, or keep its name and lose
//     writes, synced or not, that a name made later in the directory
//     depends on; only syncs order them.
//
// What it does not model: reads that fail, writes that fail or reach the
// disk corrupted beyond tearing (the corruption tests damage records), a
// disk that loses synced data, hard links, renames across directories, or
// metadata the store never relies on (permissions, times, the lock file's
// contents). Every call is atomic with respect to crashImage.
type crashFS struct {
	mu    sync.Mutex
	root  *memNode
	locks map[string]bool
}

// memNode is a file or, when dir is set, a directory.
type memNode struct {
	// A file: data is what reads see; durable is what a crash keeps with
	// none of pending, the operations since the last sync.
	data, durable pages
	pending       []fileOp

	dir *memDir
}

// fileOp is a write at off of data, or of n zeros if data is nil, or a
// truncation to off when truncate is set.
type fileOp struct {
	off      int64
	n        int64
	data     []byte
	truncate bool
}

// pageSize is the unit of the copy-on-write contents of files.
const pageSize = 4096

// pages is a file's contents: pages that are never written once made,
// so that copies of the contents share them; a nil page is zeros.
type pages struct {
	size int64
	pgs  []*[pageSize]byte
}

func (p pages) clone() pages { return pages{size: p.size, pgs: slices.Clone(p.pgs)} }

func (p *pages) truncate(size int64) {
	if size >= p.size {
		return
	}
	p.size = size
	p.pgs = p.pgs[:(size+pageSize-1)/pageSize]
	if tail := size % pageSize; tail != 0 && p.pgs[len(p.pgs)-1] != nil {
		pg := *p.pgs[len(p.pgs)-1]
		clear(pg[tail:])
		p.pgs[len(p.pgs)-1] = &pg
	}
}

// writeAt writes b at off, or n zeros if b is nil.
func (p *pages) writeAt(b []byte, n, off int64) {
	if end := off + n; end > p.size {
		p.size = end
		for int64(len(p.pgs))*pageSize < end {
			p.pgs = append(p.pgs, nil)
		}
	}
	for done := int64(0); done < n; {
		i, at := (off+done)/pageSize, (off+done)%pageSize
		k := min(n-done, pageSize-at)
		if b == nil && p.pgs[i] == nil {
			done += k
			continue
		}
		var pg [pageSize]byte
		if p.pgs[i] != nil {
			pg = *p.pgs[i]
		}
		if b == nil {
			clear(pg[at : at+k])
		} else {
			copy(pg[at:at+k], b[done:done+k])
		}
		p.pgs[i] = &pg
		done += k
	}
}

func (p pages) readAt(b []byte, off int64) int {
	n := max(0, min(int64(len(b)), p.size-off))
	for done := int64(0); done < n; {
		i, at := (off+done)/pageSize, (off+done)%pageSize
		k := min(n-done, pageSize-at)
		if p.pgs[i] == nil {
			clear(b[done : done+k])
		} else {
			copy(b[done:done+k], p.pgs[i][at:at+k])
		}
		done += k
	}
	return int(n)
}

// memDir is a directory: entries is what lookups see; durable is what a
// crash keeps with none of pending, the operations since the last sync.
type memDir struct {
	entries, durable map[string]*memNode
	pending          []dirOp
}

// dirOp sets name to node (removes name if node is nil) and, for a
// rename, removes from in the same step.
type dirOp struct {
	name, from string
	node       *memNode
}

func (op dirOp) apply(entries map[string]*memNode) {
	if op.from != "" {
		delete(entries, op.from)
	}
	if op.node == nil {
		delete(entries, op.name)
	} else {
		entries[op.name] = op.node
	}
}

func newDirNode() *memNode {
	return &memNode{dir: &memDir{entries: map[string]*memNode{}, durable: map[string]*memNode{}}}
}

func newCrashFS() *crashFS {
	return &crashFS{root: newDirNode(), locks: map[string]bool{}}
}

var _ fileSystem = (*crashFS)(nil)

// lookupDir returns the directory at path. The caller holds mu.
func (fs *crashFS) lookupDir(path string) (*memDir, error) {
	n := fs.root
	for _, part := range strings.Split(filepath.Clean(path), "/") {
		if part == "" {
			continue
		}
		if n = n.dir.entries[part]; n == nil || n.dir == nil {
			return nil, iofs.ErrNotExist
		}
	}
	return n.dir, nil
}

// parent returns the directory holding path and path's last element. The
// caller holds mu.
func (fs *crashFS) parent(path string) (*memDir, string, error) {
	path = filepath.Clean(path)
	d, err := fs.lookupDir(filepath.Dir(path))
	return d, filepath.Base(path), err
}

func (d *memDir) do(op dirOp) {
	op.apply(d.entries)
	d.pending = append(d.pending, op)
}

func (fs *crashFS) OpenFile(name string, flag int, _ os.FileMode) (file, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, base, err := fs.parent(name)
	if err != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: err}
	}
	n := d.entries[base]
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, &iofs.PathError{Op: "open", Path: name, Err: iofs.ErrNotExist}
	case n == nil:
		n = &memNode{}
		d.do(dirOp{name: base, node: n})
	case n.dir != nil:
		return nil, &iofs.PathError{Op: "open", Path: name, Err: errors.New("is a directory")}
	case flag&os.O_TRUNC != 0:
		n.data.truncate(0)
		n.pending = append(n.pending, fileOp{truncate: true})
	}
	return &memFile{fs: fs, node: n, name: name, writable: flag&(os.O_WRONLY|os.O_RDWR) != 0}, nil
}

func (fs *crashFS) Mkdir(name string, _ os.FileMode) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if filepath.Clean(name) == "/" {
		return &iofs.PathError{Op: "mkdir", Path: name, Err: iofs.ErrExist}
	}
	d, base, err := fs.parent(name)
	switch {
	case err != nil:
		return &iofs.PathError{Op: "mkdir", Path: name, Err: err}
	case d.entries[base] != nil:
		return &iofs.PathError{Op: "mkdir", Path: name, Err: iofs.ErrExist}
	}
	d.do(dirOp{name: base, node: newDirNode()})
	return nil
}

func (fs *crashFS) Rename(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, oldBase, err := fs.parent(oldname)
	if err != nil {
		return &iofs.PathError{Op: "rename", Path: oldname, Err: err}
	}
	if filepath.Dir(filepath.Clean(oldname)) != filepath.Dir(filepath.Clean(newname)) {
		return &iofs.PathError{Op: "rename", Path: newname, Err: errors.New("crashFS renames only within a directory")}
	}
	n := d.entries[oldBase]
	if n == nil {
		return &iofs.PathError{Op: "rename", Path: oldname, Err: iofs.ErrNotExist}
	}
	d.do(dirOp{name: filepath.Base(newname), from: oldBase, node: n})
	return nil
}

func (fs *crashFS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, base, err := fs.parent(name)
	if err == nil && d.entries[base] == nil {
		err = iofs.ErrNotExist
	}
	if err != nil {
		return &iofs.PathError{Op: "remove", Path: name, Err: err}
	}
	d.do(dirOp{name: base})
	return nil
}

func (fs *crashFS) ReadDir(name string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, err := fs.lookupDir(name)
	if err != nil {
		return nil, &iofs.PathError{Op: "readdir", Path: name, Err: err}
	}
	var names []string
	for name := range d.entries {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

func (fs *crashFS) SyncDir(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, err := fs.lookupDir(name)
	if err != nil {
		return &iofs.PathError{Op: "sync", Path: name, Err: err}
	}
	for _, op := range d.pending {
		op.apply(d.durable)
	}
	d.pending = nil
	return nil
}

func (fs *crashFS) Lock(name string) (io.Closer, error) {
	f, err := fs.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	f.Close()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	name = filepath.Clean(name)
	if fs.locks[name] {
		return nil, errLockHeld
	}
	fs.locks[name] = true
	return closerFunc(func() error {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		delete(fs.locks, name)
		return nil
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// sectorSize is the unit a torn write keeps or loses.
const sectorSize = 512

// crashImage returns the file system a power loss at this moment could
// leave: every directory keeps a random prefix of its unsynced operations
// and every file each of its unsynced writes with probability keepPercent
// in 100, torn now and then. Nothing is locked in the image.
func (fs *crashFS) crashImage(rng *rand.Rand, keepPercent int) *crashFS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	c := crashCopier{rng: rng, keepPercent: keepPercent, done: map[*memNode]*memNode{}}
	return &crashFS{root: c.node(fs.root), locks: map[string]bool{}}
}

// crashCopier copies the nodes a crash image reaches, each once.
type crashCopier struct {
	rng         *rand.Rand
	keepPercent int
	done        map[*memNode]*memNode
}

func (c *crashCopier) node(n *memNode) *memNode {
	if out, ok := c.done[n]; ok {
		return out
	}
	var out *memNode
	if n.dir != nil {
		entries := make(map[string]*memNode, len(n.dir.durable))
		for name, child := range n.dir.durable {
			entries[name] = child
		}
		for _, op := range n.dir.pending[:c.rng.IntN(len(n.dir.pending)+1)] {
			op.apply(entries)
		}
		out = newDirNode()
		for name, child := range entries {
			out.dir.entries[name] = c.node(child)
			out.dir.durable[name] = out.dir.entries[name]
		}
	} else {
		data := n.durable.clone()
		for _, op := range n.pending {
			c.apply(&data, op)
		}
		out = &memNode{data: data, durable: data.clone()}
	}
	c.done[n] = out
	return out
}

// apply applies the unsynced op to data if the crash keeps it, perhaps
// torn.
func (c *crashCopier) apply(data *pages, op fileOp) {
	if c.rng.IntN(100) >= c.keepPercent {
		return
	}
	if op.truncate {
		data.truncate(op.off)
		return
	}
	// The sectors the write touches: first and last are partial if the
	// write is not aligned.
	lo, hi := op.off, op.off+op.n
	sectors := int((hi-1)/sectorSize - lo/sectorSize + 1)
	keep := func(int) bool { return true }
	switch c.rng.IntN(4) {
	case 0: // a prefix of the sectors
		n := c.rng.IntN(sectors + 1)
		keep = func(i int) bool { return i < n }
	case 1: // any subset of them
		kept := make([]bool, sectors)
		for i := range kept {
			kept[i] = c.rng.IntN(2) == 0
		}
		keep = func(i int) bool { return kept[i] }
	}
	for i := range sectors {
		if !keep(i) {
			continue
		}
		from := max(lo, (lo/sectorSize+int64(i))*sectorSize)
		to := min(hi, (lo/sectorSize+int64(i)+1)*sectorSize)
		var b []byte
		if op.data != nil {
			b = op.data[from-lo : to-lo]
		}
		data.writeAt(b, to-from, from)
	}
}

// zeros is compared with writes: zeros are kept as their length.
var zeros = make([]byte, 1<<20)

// memFile is an open file of a crashFS.
type memFile struct {
	fs       *crashFS
	node     *memNode
	name     string
	writable bool
	closed   bool
}

func (f *memFile) check(op string, write bool) error {
	switch {
	case f.closed:
		return &iofs.PathError{Op: op, Path: f.name, Err: iofs.ErrClosed}
	case write && !f.writable:
		return &iofs.PathError{Op: op, Path: f.name, Err: iofs.ErrPermission}
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	n := f.node.data.readAt(p, off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	op := fileOp{off: off, n: int64(len(p))}
	if !bytes.Equal(p, zeros[:min(len(p), len(zeros))]) || len(p) > len(zeros) {
		op.data = slices.Clone(p)
	}
	f.node.data.writeAt(op.data, op.n, off)
	f.node.pending = append(f.node.pending, op)
	return len(p), nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	return f.node.data.size, nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	// What reads see is the durable contents with every pending write.
	f.node.durable = f.node.data.clone()
	f.node.pending = nil
	return nil
}

func (f *memFile) SyncData() error { return f.Sync() }

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("close", false); err != nil {
		return err
	}
	f.closed = true
	return nil
}
