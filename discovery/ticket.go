package discovery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Ticket roles: what the joining node becomes once it has caught up.
const (
	RoleLearner = "learner"
	RoleVoter   = "voter"
)

// DefaultClockSkew is how long after its expiry a ticket is still accepted,
// for the clocks of the node that made it and the node that checks it.
const DefaultClockSkew = time.Minute

// ticketPrefix starts every ticket's printable form: "jt" and the format
// version.
const ticketPrefix = "jt1"

// maxTicketAddrs bounds the member addresses a ticket carries.
const maxTicketAddrs = 16

// Ticket is a grant to join one cluster as one node. Its printable form
// (String) is a single copy-pasteable word; it is a credential: keep it in
// a file (mode 0600) or an environment variable, never on a command line.
//
// A ticket is signed with a key derived from the cluster secret (an
// HMAC-SHA256), so every member verifies it without asking anyone, and so
// can every holder of the secret who makes one (jangadactl ticket create).
// It grants exactly one node id and is spent once that id is, or was, a
// member: raft decides which of two users of the same ticket wins, and the
// other is refused with ErrTicketUsed.
type Ticket struct {
	// ClusterID names the cluster (ClusterID of its secret).
	ClusterID string
	// NodeID is the raft id the joining node gets.
	NodeID uint64
	// Role is RoleLearner or RoleVoter.
	Role string
	// NotAfter ends the grant (second precision).
	NotAfter time.Time
	// Addrs are members' QUIC addresses (HOST:PORT) to contact.
	Addrs []string

	nonce [8]byte
	mac   []byte
}

// ClusterID returns the printable id of the cluster whose secret is secret:
// 16 hex digits derived from it (one-way).
func ClusterID(secret []byte) string {
	return hex.EncodeToString(derive(secret, "jangada/discovery/1 cluster id")[:8])
}

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// NewTicket returns a signed ticket granting nodeID to join the cluster of
// secret with role for ttl from now, naming the members at addrs. It returns
// an error wrapping ErrInvalid for bad arguments.
func NewTicket(secret []byte, nodeID uint64, role string, ttl time.Duration, addrs []string, now time.Time) (Ticket, error) {
	switch {
	case len(secret) == 0:
		return Ticket{}, fmt.Errorf("%w: a ticket needs the cluster secret", ErrInvalid)
	case nodeID == 0:
		return Ticket{}, fmt.Errorf("%w: node id 0", ErrInvalid)
	case role != RoleLearner && role != RoleVoter:
		return Ticket{}, fmt.Errorf("%w: role %q: want learner or voter", ErrInvalid, role)
	case ttl <= 0:
		return Ticket{}, fmt.Errorf("%w: ttl %v must be positive", ErrInvalid, ttl)
	case len(addrs) == 0 || len(addrs) > maxTicketAddrs:
		return Ticket{}, fmt.Errorf("%w: a ticket names 1 to %d member addresses, not %d", ErrInvalid, maxTicketAddrs, len(addrs))
	}
	t := Ticket{
		ClusterID: ClusterID(secret),
		NodeID:    nodeID,
		Role:      role,
		NotAfter:  now.Add(ttl).Truncate(time.Second),
		Addrs:     append([]string(nil), addrs...),
	}
	_, _ = rand.Read(t.nonce[:])
	t.mac = t.sign(secret)
	return t, nil
}

// body is the signed part of the ticket's binary form.
func (t Ticket) body() []byte {
	cid, _ := hex.DecodeString(t.ClusterID)
	b := []byte{1}
	b = append(b, cid...)
	b = binary.AppendUvarint(b, t.NodeID)
	role := byte(1)
	if t.Role == RoleVoter {
		role = 2
	}
	b = append(b, role)
	b = binary.AppendVarint(b, t.NotAfter.Unix())
	b = append(b, t.nonce[:]...)
	b = binary.AppendUvarint(b, uint64(len(t.Addrs)))
	for _, a := range t.Addrs {
		b = binary.AppendUvarint(b, uint64(len(a)))
		b = append(b, a...)
	}
	return b
}

func (t Ticket) sign(secret []byte) []byte {
	m := hmac.New(sha256.New, derive(secret, "jangada/discovery/1 ticket key"))
	m.Write(t.body())
	return m.Sum(nil)[:16]
}

// String returns the printable form: "jt1" and the base64url encoding of
// the signed grant.
func (t Ticket) String() string {
	return ticketPrefix + base64.RawURLEncoding.EncodeToString(append(t.body(), t.mac...))
}

// ParseTicket decodes a ticket's printable form. It checks the form only,
// not the signature or the expiry (see Verify); errors wrap ErrInvalid.
func ParseTicket(s string) (Ticket, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (Ticket, error) {
		return Ticket{}, fmt.Errorf("%w: not a join ticket: %s", ErrInvalid, why)
	}
	if !strings.HasPrefix(s, ticketPrefix) {
		return bad("it does not start with " + ticketPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s[len(ticketPrefix):])
	if err != nil {
		return bad("bad encoding")
	}
	if len(raw) < 1+8+16 || raw[0] != 1 {
		return bad("unknown format")
	}
	var t Ticket
	t.mac = raw[len(raw)-16:]
	b := raw[1 : len(raw)-16]
	t.ClusterID = hex.EncodeToString(b[:8])
	b = b[8:]
	var n int
	if t.NodeID, n = binary.Uvarint(b); n <= 0 || t.NodeID == 0 {
		return bad("bad node id")
	}
	b = b[n:]
	if len(b) < 1 || b[0] != 1 && b[0] != 2 {
		return bad("bad role")
	}
	t.Role = RoleLearner
	if b[0] == 2 {
		t.Role = RoleVoter
	}
	b = b[1:]
	notAfter, n := binary.Varint(b)
	if n <= 0 {
		return bad("bad expiry")
	}
	t.NotAfter = time.Unix(notAfter, 0)
	b = b[n:]
	if len(b) < 8 {
		return bad("truncated")
	}
	copy(t.nonce[:], b)
	b = b[8:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count == 0 || count > maxTicketAddrs {
		return bad("bad address count")
	}
	b = b[n:]
	for range count {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) || l == 0 || l > 255 {
			return bad("bad address")
		}
		t.Addrs = append(t.Addrs, string(b[n:n+int(l)]))
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return t, nil
}

// Verify checks that t was made for the cluster of one of secrets (the
// first is the current one; later ones are accepted during a rotation), is
// signed under that secret and has not expired at now, allowing skew.
// Errors: ErrTicketForeign, ErrTicketForged, ErrTicketExpired, each naming
// the ticket's node id.
func (t Ticket) Verify(secrets [][]byte, now time.Time, skew time.Duration) error {
	if err := t.verifySignature(secrets); err != nil {
		return err
	}
	if now.After(t.NotAfter.Add(skew)) {
		return fmt.Errorf("%w: the grant for node %d ended at %s", ErrTicketExpired, t.NodeID, t.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifySignature is Verify without the expiry.
func (t Ticket) verifySignature(secrets [][]byte) error {
	for _, secret := range secrets {
		if ClusterID(secret) != t.ClusterID {
			continue
		}
		if !hmac.Equal(t.mac, t.sign(secret)) {
			return fmt.Errorf("%w: ticket for node %d of cluster %s", ErrTicketForged, t.NodeID, t.ClusterID)
		}
		return nil
	}
	if len(secrets) == 0 {
		return fmt.Errorf("%w: this node has no cluster secret to check tickets with", ErrTicketForeign)
	}
	return fmt.Errorf("%w: ticket for cluster %s, this is cluster %s", ErrTicketForeign, t.ClusterID, ClusterID(secrets[0]))
}
