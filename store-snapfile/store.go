package storesnapfile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// SnapshotConfig configures OpenSnapshotStore.
type SnapshotConfig struct {
	// Dir is the directory of snapshot files, created if missing. Required.
	// It must not be the LogStore's directory, and only one SnapshotStore
	// may use it at a time: opening removes the partial files of
	// interrupted snapshots. It is created with mode 0700.
	Dir string
	// Logger receives a warning for each snapshot file that List skips
	// because it cannot be read. Default: discard.
	Logger *slog.Logger
}

// Validate reports whether c can be used. The error wraps
// raftcore.ErrInvalidConfig.
func (c SnapshotConfig) Validate() error {
	if c.Dir == "" {
		return fmt.Errorf("%w: storesnapfile: SnapshotConfig.Dir is empty; set it to the snapshot directory", raftcore.ErrInvalidConfig)
	}
	return nil
}

// SnapshotStore is a raftcore.SnapshotStore keeping one file per snapshot,
// named for its index. A snapshot is written to a temporary file, compressed
// with zstd and followed by the CRC-32C of its data; Commit syncs it, renames
// it into place and syncs the directory, so a snapshot is either complete or
// absent after a crash. Readers verify the checksum when they reach the end
// of the data and report a mismatch with an error wrapping
// raftcore.ErrCorrupt.
type SnapshotStore struct {
	dir string
	log *slog.Logger
	// mu orders renames and deletions against each other, so that a Prune
	// does not race a Commit at the same index.
	mu sync.Mutex
}

var _ raftcore.SnapshotStore = (*SnapshotStore)(nil)

const (
	snapshotSuffix  = ".snap"
	partialPrefix   = "partial-"
	snapshotMagic   = "JGSNAP\x00\x01"
	trailerMagic    = "JGSE"
	trailerSize     = 8 + 4 + 4
	maxHeaderLength = 1 << 20
)

// OpenSnapshotStore opens the snapshot directory, creating it if needed, and
// removes temporary files that a crash left behind.
func OpenSnapshotStore(cfg SnapshotConfig) (*SnapshotStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("storesnapfile: creating %s: %w", cfg.Dir, err)
	}
	names, err := readDirNames(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if strings.HasPrefix(name, partialPrefix) {
			if err := os.Remove(filepath.Join(cfg.Dir, name)); err != nil {
				return nil, fmt.Errorf("storesnapfile: removing %s: %w", name, err)
			}
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SnapshotStore{dir: cfg.Dir, log: log}, nil
}

func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("storesnapfile: listing %s: %w", dir, err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func snapshotName(index uint64) string {
	return fmt.Sprintf("%016x%s", index, snapshotSuffix)
}

func indexOfName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, snapshotSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	index, err := strconv.ParseUint(hex, 16, 64)
	return index, err == nil
}

// Create starts a snapshot. Nothing is visible until the sink's Commit
// returns nil. It returns an error wrapping ErrHeaderTooLarge, and writes
// nothing, for metadata the store's reader would refuse.
func (s *SnapshotStore) Create(meta raftcore.SnapshotMeta) (raftcore.SnapshotSink, error) {
	header, err := encodeHeader(meta)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.dir, partialPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("storesnapfile: creating snapshot %d: %w", meta.Index, err)
	}
	sink := &snapshotSink{store: s, index: meta.Index, file: f, crc: crc32.New(castagnoli)}
	sink.buf = bufio.NewWriterSize(f, 256<<10)
	if _, err := sink.buf.Write(header); err != nil {
		sink.discard()
		return nil, fmt.Errorf("storesnapfile: writing snapshot %d: %w", meta.Index, err)
	}
	if sink.zw, err = codec.NewZstdWriter(sink.buf); err != nil {
		sink.discard()
		return nil, err
	}
	return sink, nil
}

// encodeHeader lays out magic, header length, index, term, ConfState and a
// CRC-32C of what precedes it. The header is refused unless parseHeader, the
// reader's own check, accepts it: a file the store writes is a file it can
// read.
func encodeHeader(meta raftcore.SnapshotMeta) ([]byte, error) {
	cs, err := proto.Marshal(cloneConfState(meta.ConfState))
	if err != nil {
		return nil, fmt.Errorf("storesnapfile: encoding snapshot %d conf state: %w", meta.Index, err)
	}
	if length := 8 + 8 + len(cs); length > maxHeaderLength {
		return nil, fmt.Errorf("%w: snapshot %d: its ConfState takes %d bytes, the header may hold %d",
			ErrHeaderTooLarge, meta.Index, length, maxHeaderLength)
	}
	header := []byte(snapshotMagic)
	header = binary.BigEndian.AppendUint32(header, uint32(8+8+len(cs)))
	header = binary.BigEndian.AppendUint64(header, meta.Index)
	header = binary.BigEndian.AppendUint64(header, meta.Term)
	header = append(header, cs...)
	header = binary.BigEndian.AppendUint32(header, crc32.Checksum(header, castagnoli))
	if _, _, err := parseHeader(bytes.NewReader(header), int64(len(header))+trailerSize); err != nil {
		return nil, fmt.Errorf("storesnapfile: snapshot %d: the header would not read back: %w", meta.Index, err)
	}
	return header, nil
}

type snapshotSink struct {
	store *SnapshotStore
	index uint64
	file  *os.File
	buf   *bufio.Writer
	zw    io.WriteCloser
	crc   hash.Hash32
	size  int64
	done  bool // committed or aborted
	err   error
}

var errSinkDone = errors.New("storesnapfile: snapshot sink already committed or aborted")

func (k *snapshotSink) Write(p []byte) (int, error) {
	if k.done {
		return 0, errSinkDone
	}
	if k.err != nil {
		return 0, k.err
	}
	n, err := k.zw.Write(p)
	k.crc.Write(p[:n])
	k.size += int64(n)
	if err != nil {
		k.err = fmt.Errorf("storesnapfile: writing snapshot %d: %w", k.index, err)
	}
	return n, k.err
}

// Commit writes the trailer, syncs the file, renames it into place and syncs
// the directory. On error the snapshot is discarded.
func (k *snapshotSink) Commit() error {
	if k.done {
		return errSinkDone
	}
	if k.err != nil {
		k.discard()
		return k.err
	}
	err := k.finish()
	if err != nil {
		k.discard()
		return fmt.Errorf("storesnapfile: committing snapshot %d: %w", k.index, err)
	}
	k.done = true
	return nil
}

func (k *snapshotSink) finish() error {
	if err := k.zw.Close(); err != nil {
		return err
	}
	trailer := binary.BigEndian.AppendUint64(nil, uint64(k.size))
	trailer = binary.BigEndian.AppendUint32(trailer, k.crc.Sum32())
	trailer = append(trailer, trailerMagic...)
	if _, err := k.buf.Write(trailer); err != nil {
		return err
	}
	if err := k.buf.Flush(); err != nil {
		return err
	}
	if err := k.file.Sync(); err != nil {
		return err
	}
	if err := k.file.Close(); err != nil {
		return err
	}
	k.store.mu.Lock()
	defer k.store.mu.Unlock()
	if err := os.Rename(k.file.Name(), filepath.Join(k.store.dir, snapshotName(k.index))); err != nil {
		return err
	}
	return syncOSDir(k.store.dir)
}

// Abort discards the snapshot. After Commit it does nothing.
func (k *snapshotSink) Abort() error {
	if k.done {
		return nil
	}
	return k.discard()
}

func (k *snapshotSink) discard() error {
	k.done = true
	if k.zw != nil {
		k.zw.Close()
	}
	k.file.Close()
	if err := os.Remove(k.file.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("storesnapfile: discarding snapshot %d: %w", k.index, err)
	}
	return nil
}

func syncOSDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}

// Open returns the snapshot at index and a reader of its data. The reader
// returns an error wrapping raftcore.ErrCorrupt, at the latest at the end of
// the data, if the file fails its checks.
func (s *SnapshotStore) Open(index uint64) (raftcore.SnapshotMeta, io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(s.dir, snapshotName(index)))
	if errors.Is(err, os.ErrNotExist) {
		return raftcore.SnapshotMeta{}, nil, fmt.Errorf("storesnapfile: snapshot %d: %w", index, raftcore.ErrSnapshotNotFound)
	}
	if err != nil {
		return raftcore.SnapshotMeta{}, nil, fmt.Errorf("storesnapfile: opening snapshot %d: %w", index, err)
	}
	file, err := readSnapshotFile(f, index)
	if err != nil {
		f.Close()
		return raftcore.SnapshotMeta{}, nil, err
	}
	r, err := file.reader(f, index)
	if err != nil {
		f.Close()
		return raftcore.SnapshotMeta{}, nil, err
	}
	return file.meta, r, nil
}

// reader returns a reader of the snapshot's data that closes c when closed.
func (file snapshotFile) reader(c io.Closer, index uint64) (*snapshotReader, error) {
	zr, err := codec.NewZstdReader(bufio.NewReaderSize(file.body, 256<<10))
	if err != nil {
		return nil, err
	}
	return &snapshotReader{file: c, zr: zr, index: index, want: file.meta.Size, wantCRC: file.dataCRC, crc: crc32.New(castagnoli)}, nil
}

type snapshotFile struct {
	meta    raftcore.SnapshotMeta
	dataCRC uint32
	body    *io.SectionReader
}

// errMalformed describes why a snapshot file does not parse; readSnapshotFile
// wraps it in raftcore.ErrCorrupt with the file's name.
type errMalformed string

func (e errMalformed) Error() string { return string(e) }

// readSnapshotFile checks the header and trailer of the snapshot file f,
// which must hold the snapshot at index.
func readSnapshotFile(f *os.File, index uint64) (snapshotFile, error) {
	info, err := f.Stat()
	if err != nil {
		return snapshotFile{}, fmt.Errorf("storesnapfile: snapshot %d: %w", index, err)
	}
	file, err := parseSnapshotFile(f, info.Size(), index)
	if err != nil {
		return snapshotFile{}, fmt.Errorf("%w: snapshot file %s: %w", raftcore.ErrCorrupt, f.Name(), err)
	}
	return file, nil
}

// parseSnapshotFile checks the header and trailer of the size bytes of r.
// Every error is an errMalformed.
func parseSnapshotFile(r io.ReaderAt, size int64, index uint64) (snapshotFile, error) {
	meta, headerEnd, err := parseHeader(r, size)
	if err != nil {
		return snapshotFile{}, err
	}
	if meta.Index != index {
		return snapshotFile{}, errMalformed(fmt.Sprintf("holds snapshot %d", meta.Index))
	}
	trailer := make([]byte, trailerSize)
	if _, err := r.ReadAt(trailer, size-trailerSize); err != nil {
		return snapshotFile{}, errMalformed("short trailer")
	}
	if !bytes.Equal(trailer[12:], []byte(trailerMagic)) {
		return snapshotFile{}, errMalformed("bad trailer")
	}
	meta.Size = int64(binary.BigEndian.Uint64(trailer))
	if meta.Size < 0 {
		return snapshotFile{}, errMalformed("bad size")
	}
	return snapshotFile{
		meta:    meta,
		dataCRC: binary.BigEndian.Uint32(trailer[8:]),
		body:    io.NewSectionReader(r, headerEnd, size-trailerSize-headerEnd),
	}, nil
}

// parseHeader checks the header at the start of the size bytes of r and
// returns the metadata it holds (without Size) and where it ends. Every
// error is an errMalformed.
func parseHeader(r io.ReaderAt, size int64) (raftcore.SnapshotMeta, int64, error) {
	fixed := make([]byte, len(snapshotMagic)+4)
	if _, err := r.ReadAt(fixed, 0); err != nil {
		return raftcore.SnapshotMeta{}, 0, errMalformed("short header")
	}
	if string(fixed[:len(snapshotMagic)]) != snapshotMagic {
		return raftcore.SnapshotMeta{}, 0, errMalformed("bad magic")
	}
	length := int64(binary.BigEndian.Uint32(fixed[len(snapshotMagic):]))
	headerEnd := int64(len(fixed)) + length + 4
	if length < 16 || length > maxHeaderLength || headerEnd+trailerSize > size {
		return raftcore.SnapshotMeta{}, 0, errMalformed("bad header length")
	}
	header := make([]byte, headerEnd)
	if _, err := r.ReadAt(header, 0); err != nil {
		return raftcore.SnapshotMeta{}, 0, errMalformed("short header")
	}
	if crc32.Checksum(header[:headerEnd-4], castagnoli) != binary.BigEndian.Uint32(header[headerEnd-4:]) {
		return raftcore.SnapshotMeta{}, 0, errMalformed("header checksum mismatch")
	}
	body := header[len(fixed) : headerEnd-4]
	meta := raftcore.SnapshotMeta{
		Index:     binary.BigEndian.Uint64(body),
		Term:      binary.BigEndian.Uint64(body[8:]),
		ConfState: new(raftpb.ConfState),
	}
	if err := proto.Unmarshal(body[16:], meta.ConfState); err != nil {
		return raftcore.SnapshotMeta{}, 0, errMalformed("conf state: " + err.Error())
	}
	return meta, headerEnd, nil
}

// snapshotReader decompresses a snapshot's data and checks its length and
// checksum at the end.
type snapshotReader struct {
	file    io.Closer
	zr      io.ReadCloser
	index   uint64
	want    int64
	wantCRC uint32
	crc     hash.Hash32
	read    int64
	err     error
}

func (r *snapshotReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.zr.Read(p)
	r.crc.Write(p[:n])
	r.read += int64(n)
	switch {
	case r.read > r.want:
		r.err = fmt.Errorf("%w: snapshot %d holds more than its %d bytes", raftcore.ErrCorrupt, r.index, r.want)
		return 0, r.err
	case err == io.EOF:
		if r.read != r.want || r.crc.Sum32() != r.wantCRC {
			r.err = fmt.Errorf("%w: snapshot %d fails its checksum", raftcore.ErrCorrupt, r.index)
			return 0, r.err
		}
		r.err = io.EOF
	case err != nil:
		r.err = fmt.Errorf("%w: snapshot %d: %v", raftcore.ErrCorrupt, r.index, err)
		return 0, r.err
	}
	return n, r.err
}

func (r *snapshotReader) Close() error {
	r.zr.Close()
	return r.file.Close()
}

// List returns the committed snapshots, newest first.
//
// A snapshot file whose header or trailer is damaged is skipped, with a
// warning to SnapshotConfig.Logger, when a newer snapshot reads well: one
// bad old file does not make the whole store unusable. The newest snapshot
// file is never skipped, since it is the one the log records: if it is
// damaged, List returns an error wrapping raftcore.ErrCorrupt. Open reports
// a damaged snapshot whatever its age.
func (s *SnapshotStore) List() ([]raftcore.SnapshotMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	indexes, err := s.indexes()
	if err != nil {
		return nil, err
	}
	metas := make([]raftcore.SnapshotMeta, 0, len(indexes))
	for _, index := range indexes {
		meta, err := s.readMeta(index)
		if err != nil {
			if len(metas) == 0 || !errors.Is(err, raftcore.ErrCorrupt) {
				return nil, err
			}
			s.log.Warn("storesnapfile: skipping an unreadable snapshot file older than the newest snapshot",
				"file", filepath.Join(s.dir, snapshotName(index)), "err", err)
			continue
		}
		metas = append(metas, meta)
	}
	return metas, nil
}

// readMeta returns the metadata of the snapshot file at index. The caller
// holds mu.
func (s *SnapshotStore) readMeta(index uint64) (raftcore.SnapshotMeta, error) {
	f, err := os.Open(filepath.Join(s.dir, snapshotName(index)))
	if err != nil {
		return raftcore.SnapshotMeta{}, fmt.Errorf("storesnapfile: opening snapshot %d: %w", index, err)
	}
	defer f.Close()
	file, err := readSnapshotFile(f, index)
	return file.meta, err
}

// indexes returns the indexes of the snapshot files, newest first. The
// caller holds mu.
func (s *SnapshotStore) indexes() ([]uint64, error) {
	names, err := readDirNames(s.dir)
	if err != nil {
		return nil, err
	}
	var indexes []uint64
	for _, name := range names {
		if index, ok := indexOfName(name); ok {
			indexes = append(indexes, index)
		}
	}
	slices.Sort(indexes)
	slices.Reverse(indexes)
	return indexes, nil
}

// Prune deletes all but the newest keep snapshots; keep must be at least 1.
func (s *SnapshotStore) Prune(keep int) error {
	if keep < 1 {
		return fmt.Errorf("storesnapfile: prune must keep at least one snapshot, not %d", keep)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	indexes, err := s.indexes()
	if err != nil || len(indexes) <= keep {
		return err
	}
	for _, index := range indexes[keep:] {
		if err := os.Remove(filepath.Join(s.dir, snapshotName(index))); err != nil {
			return fmt.Errorf("storesnapfile: pruning snapshot %d: %w", index, err)
		}
	}
	return syncOSDir(s.dir)
}

// Delete implements raftcore.SnapshotDeleter: it removes the snapshot at
// index. Deleting an unknown index is not an error.
func (s *SnapshotStore) Delete(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := os.Remove(filepath.Join(s.dir, snapshotName(index)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storesnapfile: deleting snapshot %d: %w", index, err)
	}
	return syncOSDir(s.dir)
}

var _ raftcore.SnapshotDeleter = (*SnapshotStore)(nil)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func cloneConfState(cs *raftpb.ConfState) *raftpb.ConfState {
	if cs == nil {
		return raftpb.EnsureConfState(nil)
	}
	return raftpb.EnsureConfState(proto.Clone(cs).(*raftpb.ConfState))
}
