package transportquic

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"
)

// nodeIDExtension identifies the certificate extension that binds a raft node
// id to the certificate's key in cluster-secret mode. Its value is one version
// byte followed by the id as an unsigned varint.
var nodeIDExtension = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 65174, 1, 1}

const nodeIDExtensionVersion = 1

// caDerivationInfo separates the cluster CA key from any other key that might
// ever be derived from the same secret.
const caDerivationInfo = "jangada/transport-quic/cluster-ca/v1"

// minClusterSecretSize is the shortest accepted cluster secret: the CA key is
// no stronger than the secret it is derived from.
const minClusterSecretSize = 32

// certificateLifetime is how long generated certificates claim to be valid.
// Trust never rests on it: keys are pinned, or chains are checked against the
// cluster CA, so a long lifetime only avoids clock-skew failures.
const certificateLifetime = 10 * 365 * 24 * time.Hour

// deriveClusterCA derives the cluster CA key from the shared secret: every
// node that knows the secret computes the same key, and nobody else can.
func deriveClusterCA(secret []byte) (ed25519.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, secret, nil, caDerivationInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("transportquic: derive cluster CA: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// encodeNodeID returns the value of the node id extension.
func encodeNodeID(id uint64) []byte {
	return binary.AppendUvarint([]byte{nodeIDExtensionVersion}, id)
}

// decodeNodeID parses the value of the node id extension. It accepts exactly
// what encodeNodeID produces for a non-zero id.
func decodeNodeID(b []byte) (uint64, error) {
	if len(b) < 2 || b[0] != nodeIDExtensionVersion {
		return 0, fmt.Errorf("%w: node id extension: unknown version", ErrUntrustedPeer)
	}
	id, n := binary.Uvarint(b[1:])
	if n <= 0 || n != len(b)-1 || id == 0 {
		return 0, fmt.Errorf("%w: node id extension: malformed", ErrUntrustedPeer)
	}
	if n != len(binary.AppendUvarint(nil, id)) {
		return 0, fmt.Errorf("%w: node id extension: non-minimal encoding", ErrUntrustedPeer)
	}
	return id, nil
}

// newCertificate returns the TLS certificate a node presents. Without a CA it
// is self-signed and peers pin its key. With a CA (cluster-secret mode) it is
// signed by the CA and carries the node id, so peers that only know the secret
// can bind the id to the key.
func newCertificate(priv ed25519.PrivateKey, nodeID uint64, ca ed25519.PrivateKey) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transportquic: certificate serial: %w", err)
	}
	pub := PublicKey(priv)
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "jangada node " + FormatKey(pub)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certificateLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	parent, signer := template, priv
	if ca != nil {
		template.ExtraExtensions = []pkix.Extension{{Id: nodeIDExtension, Value: encodeNodeID(nodeID)}}
		parent = &x509.Certificate{
			Subject:   pkix.Name{CommonName: "jangada cluster CA"},
			PublicKey: PublicKey(ca),
		}
		signer = ca
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, signer)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transportquic: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transportquic: parse certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// signedNodeID reports the node id that leaf carries if leaf is signed by the
// cluster CA, and ok=false otherwise.
func signedNodeID(leaf *x509.Certificate, ca ed25519.PublicKey) (id uint64, ok bool) {
	if ca == nil || leaf.SignatureAlgorithm != x509.PureEd25519 {
		return 0, false
	}
	if !ed25519.Verify(ca, leaf.RawTBSCertificate, leaf.Signature) {
		return 0, false
	}
	var value []byte
	found := 0
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(nodeIDExtension) {
			value = ext.Value
			found++
		}
	}
	if found != 1 {
		return 0, false
	}
	id, err := decodeNodeID(value)
	if err != nil {
		return 0, false
	}
	return id, true
}
