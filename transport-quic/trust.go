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
	// list, or a cluster-CA certificate for an id that is not a member) but
	// not bound to any member.
	ID uint64
	// SecretHolder: the certificate was signed with a cluster secret.
	SecretHolder bool
	// bind is set when ID is a keyless member proved by a cluster-CA
	// certificate and not yet bound to a key: admitting the connection binds
	// ID to Key (trust on first use).
	bind bool
}

// trustStore decides which remotes may connect. A remote is trusted when its
// key is the key of a member (raftcore.Peer.Key given to AddPeer, or the key
// a keyless member was bound to on first use), when it is on the configured
// allow list, or, in cluster-secret mode, when its certificate is signed by
// an accepted cluster CA. Nothing else is ever accepted, and nothing that
// carries this node's own id or key.
//
// A cluster-CA certificate proves a raft id only for a current member: for a
// member with a pinned key it must carry that key; a keyless member is bound
// to the first key that proves it, and no other key is accepted for it
// afterwards. An id that was removed is never proved by a CA certificate
// again, and a CA certificate for an id that is not a member proves no raft
// id at all (the remote gets id 0, like an allow-listed key).
type trustStore struct {
	self    uint64
	selfKey ed25519.PublicKey
	cas     []ed25519.PublicKey // empty unless cluster-secret mode
	allowed []ed25519.PublicKey // immutable

	mu      sync.RWMutex
	members map[uint64]raftcore.Peer
	byKey   map[string]uint64            // pinned and learned member keys
	learned map[uint64]ed25519.PublicKey // keys keyless members were bound to
	removed map[uint64]struct{}          // never cleared
}

func newTrustStore(self uint64, selfKey ed25519.PublicKey, allowed []ed25519.PublicKey, cas []ed25519.PublicKey) *trustStore {
	return &trustStore{
		self:    self,
		selfKey: selfKey,
		cas:     cas,
		allowed: allowed,
		members: make(map[uint64]raftcore.Peer),
		byKey:   make(map[string]uint64),
		learned: make(map[uint64]ed25519.PublicKey),
		removed: make(map[uint64]struct{}),
	}
}

// setMember records p. It reports whether p's address or key changed (so
// connections to it must be replaced) and whether it was known before. A
// pinned key replaces a key learned on first use; a keyless update keeps it.
// Adding an id that was removed makes it a member again, but only a pinned
// key can prove it from then on: CA certificates for it stay refused.
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
	if len(p.Key) > 0 {
		s.forgetLearnedLocked(p.ID)
	}
	p.Key = bytes.Clone(p.Key)
	s.members[p.ID] = p
	if len(p.Key) > 0 {
		s.byKey[string(p.Key)] = p.ID
	}
	return true, known
}

// removeMember forgets id, and any key it was bound to, and refuses CA
// certificates for it from now on.
func (s *trustStore) removeMember(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.members[id]; ok {
		if len(old.Key) > 0 && s.byKey[string(old.Key)] == id {
			delete(s.byKey, string(old.Key))
		}
		delete(s.members, id)
	}
	s.forgetLearnedLocked(id)
	s.removed[id] = struct{}{}
}

func (s *trustStore) forgetLearnedLocked(id uint64) {
	if k, ok := s.learned[id]; ok {
		if s.byKey[string(k)] == id {
			delete(s.byKey, string(k))
		}
		delete(s.learned, id)
	}
}

// identify checks the certificate chain of a handshake without changing
// anything: it runs in VerifyConnection, before the TLS 1.3 server has
// checked that the client holds the certificate's private key. want is the
// peer this node dialled (nil for inbound connections): its key, or, lacking
// a key, its id proved by a CA-signed certificate, must match exactly. An
// inbound connection for the raft protocol (cs.NegotiatedProtocol) needs a
// member id.
func (s *trustStore) identify(cs tls.ConnectionState, want *raftcore.Peer) (remoteIdentity, error) {
	key, signedID, signed, err := s.parseLeaf(cs)
	if err != nil {
		return remoteIdentity{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.decideLocked(key, signedID, signed, want, cs.NegotiatedProtocol)
}

// admit repeats identify once the handshake has completed and, when the
// remote is a keyless member proved for the first time, binds its id to its
// key, atomically with the check: of two handshakes claiming the same id
// with different keys, only the first admitted wins. learned reports a new
// binding.
func (s *trustStore) admit(cs tls.ConnectionState, want *raftcore.Peer) (remote remoteIdentity, learned bool, err error) {
	key, signedID, signed, err := s.parseLeaf(cs)
	if err != nil {
		return remoteIdentity{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	remote, err = s.decideLocked(key, signedID, signed, want, cs.NegotiatedProtocol)
	if err != nil || !remote.bind {
		return remote, false, err
	}
	remote.bind = false
	s.learned[remote.ID] = bytes.Clone(key)
	s.byKey[string(key)] = remote.ID
	return remote, true, nil
}

func (s *trustStore) parseLeaf(cs tls.ConnectionState) (key ed25519.PublicKey, signedID uint64, signed bool, err error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, 0, false, fmt.Errorf("%w: no certificate", ErrUntrustedPeer)
	}
	leaf := cs.PeerCertificates[0]
	key, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, 0, false, fmt.Errorf("%w: certificate key is %T, not ed25519", ErrUntrustedPeer, leaf.PublicKey)
	}
	for _, ca := range s.cas {
		if signedID, signed = signedNodeID(leaf, ca); signed {
			break
		}
	}
	return key, signedID, signed, nil
}

func (s *trustStore) decideLocked(key ed25519.PublicKey, signedID uint64, signed bool, want *raftcore.Peer, proto string) (remoteIdentity, error) {
	switch {
	case bytes.Equal(key, s.selfKey):
		return remoteIdentity{}, fmt.Errorf("%w: remote presented this node's own key", ErrUntrustedPeer)
	case signed && signedID == s.self:
		return remoteIdentity{}, fmt.Errorf("%w: certificate for this node's own id %d", ErrUntrustedPeer, s.self)
	}
	var remote remoteIdentity
	id, isMember := s.byKey[string(key)]
	switch {
	case isMember:
		if signed && signedID != id {
			return remoteIdentity{}, fmt.Errorf("%w: key of member %d presented a certificate for node %d", ErrUntrustedPeer, id, signedID)
		}
		remote.ID = id
	case signed:
		if _, gone := s.removed[signedID]; gone {
			return remoteIdentity{}, fmt.Errorf("%w: node %d was removed", ErrUntrustedPeer, signedID)
		}
		m, isMember := s.members[signedID]
		switch {
		case isMember && len(m.Key) > 0:
			return remoteIdentity{}, fmt.Errorf("%w: node %d presented key %s, member key is %s",
				ErrUntrustedPeer, signedID, FormatKey(key), FormatKey(m.Key))
		case isMember && len(s.learned[signedID]) > 0:
			if !s.learned[signedID].Equal(key) {
				return remoteIdentity{}, fmt.Errorf("%w: node %d presented key %s, it proved key %s first",
					ErrUntrustedPeer, signedID, FormatKey(key), FormatKey(s.learned[signedID]))
			}
			remote.ID = signedID
		case isMember:
			remote.ID, remote.bind = signedID, true
		case want != nil && want.ID == signedID && (len(want.Key) == 0 || bytes.Equal(want.Key, key)):
			// The caller dialled this id itself (a stream to a node that is
			// not a member, say), perhaps with the key it expects; it
			// vouches for the id.
			remote.ID = signedID
		case want != nil && want.ID == 0 && len(want.Key) == 0 && proto != raftcore.ProtocolRaft:
			// The caller dialled an address and expects any holder of the
			// secret there (a management client knows no more); the id is
			// the one the secret signed.
			remote.ID = signedID
		default:
			// The secret vouches for the key, but the id is no member's:
			// trusted like an allow-listed key, without a raft identity.
			remote.ID = 0
		}
	case want != nil && len(want.Key) > 0 && bytes.Equal(want.Key, key):
		// The caller dialled a key it pinned itself (a node that is not a
		// member yet); it vouches for the id.
		remote.ID = want.ID
	case s.isAllowed(key):
		remote.ID = 0
	default:
		return remoteIdentity{}, fmt.Errorf("%w: key %s is neither a member nor allowed", ErrUntrustedPeer, FormatKey(key))
	}
	remote.Key, remote.SecretHolder = key, signed
	if want != nil {
		if err := checkExpected(*want, key, remote.ID); err != nil {
			return remoteIdentity{}, err
		}
	} else if remote.ID == 0 && proto == raftcore.ProtocolRaft {
		return remoteIdentity{}, fmt.Errorf("%w: key %s is no member's: raft connections refused", ErrUntrustedPeer, FormatKey(key))
	}
	return remote, nil
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
