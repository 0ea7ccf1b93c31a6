package adapters

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// Machine is the state machine every system replicates in the benchmarks. By
// default it only counts applied commands, so the figures measure the
// consensus path and not the application. With KeepData it also keeps every
// command's bytes, so that its snapshot carries real state of a known size
// (the snapshot catch-up scenario).
type Machine struct {
	mu       sync.RWMutex
	keepData bool
	count    uint64
	data     []byte
}

// NewMachine returns an empty machine; keepData makes it keep command bytes.
func NewMachine(keepData bool) *Machine { return &Machine{keepData: keepData} }

// Apply records one command and returns its index.
func (m *Machine) Apply(index uint64, cmd []byte) uint64 {
	m.mu.Lock()
	m.count++
	if m.keepData {
		m.data = append(m.data, cmd...)
	}
	m.mu.Unlock()
	return index
}

// Count returns how many commands were applied.
func (m *Machine) Count() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.count
}

// Size returns the bytes of state kept (0 without KeepData).
func (m *Machine) Size() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.data)
}

// state returns the count and the kept bytes. The bytes are append-only, so
// the returned slice stays valid while later commands are applied.
func (m *Machine) state() (uint64, []byte) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.count, m.data[:len(m.data):len(m.data)]
}

// Snapshot writes the count followed by the kept bytes.
func (m *Machine) Snapshot(w io.Writer) error {
	count, data := m.state()
	return writeMachineState(w, count, data)
}

func writeMachineState(w io.Writer, count uint64, data []byte) error {
	var hdr [16]byte
	binary.BigEndian.PutUint64(hdr[:8], count)
	binary.BigEndian.PutUint64(hdr[8:], uint64(len(data)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// maxRestoreSize bounds the state Restore accepts, so a damaged snapshot
// cannot make the process allocate without limit.
const maxRestoreSize = 4 << 30

// Restore replaces the state with what Snapshot wrote.
func (m *Machine) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var hdr [16]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return fmt.Errorf("bench: restore machine: %w", err)
	}
	count, size := binary.BigEndian.Uint64(hdr[:8]), binary.BigEndian.Uint64(hdr[8:])
	if size > maxRestoreSize {
		return fmt.Errorf("bench: restore machine: %d bytes of state is over the %d limit", size, maxRestoreSize)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(br, data); err != nil {
		return fmt.Errorf("bench: restore machine: %w", err)
	}
	m.mu.Lock()
	m.count, m.data = count, data
	m.mu.Unlock()
	return nil
}

// read is what every read scenario does against the machine: a shared-lock
// look at the count.
func (m *Machine) read() uint64 { return m.Count() }
