// Package transporttest is the conformance suite for raftcore.Transport
// implementations. Every transport module runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T, ids []uint64) []transporttest.Node {
//			nodes := make([]transporttest.Node, len(ids))
//			for i, id := range ids {
//				tr := newMyTransport(t, id) // not started, no peers added
//				nodes[i] = transporttest.Node{Peer: tr.Peer(), Transport: tr}
//			}
//			return nodes
//		})
//	}
//
// The suite wires the nodes to each other with AddPeer, starts each transport
// with a Recorder as its Handler and closes every transport when a test ends.
// When the transports also implement raftcore.StreamTransport, the stream
// behaviour is checked as well.
//
// Beyond the written contract, the suite assumes that a per-peer queue holds
// at least MinQueueMessages small messages, and that a sender whose receiver
// is stuck starts dropping before MaxBufferedBytes are in flight. It checks
// that a rejected snapshot fails SendSnapshot, not which error comes back: the
// receiver's error need not survive a network hop. A cancelled SendSnapshot
// must return an error wrapping the context's error.
//
// The building blocks (StartCluster, Recorder, NewMessage, FullMessage,
// RandomBytes) are exported so that implementations can write their own
// transport-specific tests with them.
package transporttest
