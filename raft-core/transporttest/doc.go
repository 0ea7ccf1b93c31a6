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
// The building blocks (StartCluster, Recorder, NewMessage, FullMessage,
// RandomBytes) are exported so that implementations can write their own
// transport-specific tests with them.
package transporttest
