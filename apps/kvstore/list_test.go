package kvstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestListVisitsNoMoreKeysThanItsLimit checks that a listing's work under
// the read lock is bounded by its limit, not by the number of keys.
func TestListVisitsNoMoreKeysThanItsLimit(t *testing.T) {
	m := NewMachine()
	const n = 10_000
	for i := range n {
		m.Apply(uint64(i+1), Command{Op: OpPut, Key: fmt.Sprintf("k%05d", i), Value: []byte("v")})
	}
	visited := 0
	m.onListVisit = func() { visited++ }
	tests := []struct {
		prefix   string
		limit    int
		wantKeys int
		wantMore bool
	}{
		{"", 10, 10, true},
		{"k05", 10, 10, true},
		{"k0999", 10, 10, false},
		{"k09999", 10, 1, false},
		{"z", 10, 0, false},
		{"k", n, n, false},
	}
	for _, tt := range tests {
		visited = 0
		keys, more := m.List(tt.prefix, tt.limit)
		if len(keys) != tt.wantKeys || more != tt.wantMore {
			t.Errorf("List(%q, %d): %d keys, more %v; want %d, %v", tt.prefix, tt.limit, len(keys), more, tt.wantKeys, tt.wantMore)
		}
		if visited > tt.limit+1 {
			t.Errorf("List(%q, %d) visited %d keys; want at most %d", tt.prefix, tt.limit, visited, tt.limit+1)
		}
		if !slices.IsSortedFunc(keys, func(a, b KeyVersion) int { return strings.Compare(a.Key, b.Key) }) {
			t.Errorf("List(%q, %d) is not in byte order", tt.prefix, tt.limit)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k.Key, tt.prefix) {
				t.Errorf("List(%q, %d) returned %q", tt.prefix, tt.limit, k.Key)
			}
		}
	}
}

// TestListFollowsWritesAndRestores checks that the ordered index agrees with
// the keys after puts, deletes and a restore.
func TestListFollowsWritesAndRestores(t *testing.T) {
	m := NewMachine()
	m.Apply(1, Command{Op: OpPut, Key: "b", Value: []byte("1")})
	m.Apply(2, Command{Op: OpPut, Key: "a", Value: []byte("2")})
	m.Apply(3, Command{Op: OpPut, Key: "c", Value: []byte("3")})
	m.Apply(4, Command{Op: OpDelete, Key: "b"})
	m.Apply(5, Command{Op: OpPut, Key: "a", Value: []byte("4")})
	want := []KeyVersion{{"a", 5}, {"c", 3}}
	if keys, more := m.List("", 10); !slices.Equal(keys, want) || more {
		t.Fatalf("List: %v %v, want %v", keys, more, want)
	}
	var snap strings.Builder
	if err := m.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	r := NewMachine()
	r.Apply(1, Command{Op: OpPut, Key: "stale", Value: []byte("x")})
	if err := r.Restore(strings.NewReader(snap.String())); err != nil {
		t.Fatal(err)
	}
	if keys, more := r.List("", 10); !slices.Equal(keys, want) || more {
		t.Fatalf("List after restore: %v %v, want %v", keys, more, want)
	}
}
