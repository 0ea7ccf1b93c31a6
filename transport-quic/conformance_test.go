package transportquic

import (
	"testing"

	"github.com/jangada-io/jangada/raft-core/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T, ids []uint64) []transporttest.Node {
		nodes := make([]transporttest.Node, len(ids))
		for i, id := range ids {
			// A small byte budget keeps the backlog that a stuck receiver
			// builds up short to drain once it is released.
			tr, _ := newTestTransport(t, id, func(c *Config) { c.MaxQueueBytes = 1 << 20 })
			nodes[i] = transporttest.Node{Peer: tr.Self(), Transport: tr}
		}
		return nodes
	})
}
