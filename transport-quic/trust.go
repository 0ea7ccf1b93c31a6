package transportquic

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"sync"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// remoteIdentity is what a handshake proved about the remote.
type remoteIdentity struct {
	// Key is the remote's identity key; the handshake proved it holds the
	// private half.
	Key ed25519.PublicKey
	// ID is the raft id bound to Key, or 0 when the key is trusted (allow
	// list) but not bound to any member.
	ID uint64
}

// trustStore decides which remotes may connect. A remote is trusted when its
// key is the key of a member (raftcore.Peer.Key given to AddPeer), when it is
// on the configured allow list, or, in cluster-secret mode, when its
// certificate is signed by the cluster CA. Nothing else is ever accepted.
type trustStore struct {
	ca      ed25519.PublicKey   // nil unless cluster-secret mode
	allowed []ed25519.PublicKey // immutable

	mu      sync.RWMutex
	members map[uint64]raftcore.Peer
	byKey   map[string]uint64
	removed map[uint64]struct{}
}

func newTrustStore(allowed []ed25519.PublicKey, ca ed25519.PublicKey) *trustStore {
	return &trustStore{
		ca:      ca,
		allowed: allowed,
		members: make(map[uint64]raftcore.Peer),
		byKey:   make(map[string]uint64),
		removed: make(map[uint64]struct{}),
	}
}

// setMember records p. It reports whether p's address or key changed (so
// connections to it must be replaced) and whether it was known before.
func (s *trustStore) setMember(p raftcore.Peer) (changed, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, known := s.members[p.ID]
	if known && old.Addr == p.Addr && bytes.Equal(old.Key, p.Key) {
		return false, true
	}
	if known && len(old.Key) > 0 && s.byKey[string(old.Key)] == p.ID {
		delete(s.byKey, string(old.Key))
	}
	p.Key = bytes.Clone(p.Key)
	s.members[p.ID] = p
	if len(p.Key) > 0 {
		s.byKey[string(p.Key)] = p.ID
	}
	delete(s.removed, p.ID)
	return true, known
}

// removeMember forgets id and refuses it from now on, even if the cluster CA
// signed a certificate for it.
func (s *trustStore) removeMember(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.members[id]; ok {
		if len(old.Key) > 0 && s.byKey[string(old.Key)] == id {
			delete(s.byKey, string(old.Key))
		}
		delete(s.members, id)
	}
	s.removed[id] = struct{}{}
}

func (s *trustStore) member(id uint64) (raftcore.Peer, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.members[id]
	return p, ok
}

// identify checks the certificate chain of a completed handshake. want is the
// peer this node dialled (nil for inbound connections): its key, or, lacking
// a key, its id proved by a CA-signed certificate, must match exactly.
func (s *trustStore) identify(cs tls.ConnectionState, want *raftcore.Peer) (remoteIdentity, error) {
	if len(cs.PeerCertificates) == 0 {
		return remoteIdentity{}, fmt.Errorf("%w: no certificate", ErrUntrustedPeer)
	}
	leaf := cs.PeerCertificates[0]
	key, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return remoteIdentity{}, fmt.Errorf("%w: certificate key is %T, not ed25519", ErrUntrustedPeer, leaf.PublicKey)
	}
	signedID, signed := signedNodeID(leaf, s.ca)

	s.mu.RLock()
	defer s.mu.RUnlock()
	id, isMember := s.byKey[string(key)]
	switch {
	case isMember:
		if signed && signedID != id {
			return remoteIdentity{}, fmt.Errorf("%w: key of member %d presented a certificate for node %d", ErrUntrustedPeer, id, signedID)
		}
	case signed:
		if _, gone := s.removed[signedID]; gone {
			return remoteIdentity{}, fmt.Errorf("%w: node %d was removed", ErrUntrustedPeer, signedID)
		}
		if m, ok := s.members[signedID]; ok && len(m.Key) > 0 {
			return remoteIdentity{}, fmt.Errorf("%w: node %d presented key %s, member key is %s",
				ErrUntrustedPeer, signedID, FormatKey(key), FormatKey(m.Key))
		}
		id = signedID
	case want != nil && len(want.Key) > 0 && bytes.Equal(want.Key, key):
		// The caller dialled a key it pinned itself (a node that is not a
		// member yet); it vouches for the id.
		id = want.ID
	case s.isAllowed(key):
		id = 0
	default:
		return remoteIdentity{}, fmt.Errorf("%w: key %s is neither a member nor allowed", ErrUntrustedPeer, FormatKey(key))
	}
	if want != nil {
		if err := checkExpected(*want, key, id); err != nil {
			return remoteIdentity{}, err
		}
	}
	return remoteIdentity{Key: key, ID: id}, nil
}

func checkExpected(want raftcore.Peer, key ed25519.PublicKey, id uint64) error {
	if len(want.Key) > 0 && !bytes.Equal(want.Key, key) {
		return fmt.Errorf("%w: %v presented key %s, want %s", ErrUntrustedPeer, want, FormatKey(key), FormatKey(want.Key))
	}
	if want.ID != 0 && want.ID != id {
		return fmt.Errorf("%w: %v proved identity of node %d", ErrUntrustedPeer, want, id)
	}
	if len(want.Key) == 0 && id == 0 {
		return fmt.Errorf("%w: %v has no key to pin and no node id to check", ErrUntrustedPeer, want)
	}
	return nil
}

func (s *trustStore) isAllowed(key ed25519.PublicKey) bool {
	for _, k := range s.allowed {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}
