package kvtest

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
)

// Input is one operation of a key-value history: a linearizable get or a
// put.
type Input struct {
	Put   bool
	Key   string
	Value string
}

// Output is what a get returned; puts have none.
type Output struct {
	Found bool
	Value string
}

// Model is the porcupine model of a register per key; a history of Input
// and Output operations is partitioned by key.
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(Input).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return Output{} },
	Step: func(state, input, output any) (bool, any) {
		in := input.(Input)
		if in.Put {
			return true, Output{Found: true, Value: in.Value}
		}
		return output.(Output) == state.(Output), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(Input)
		if in.Put {
			return fmt.Sprintf("put(%s, %s)", in.Key, in.Value)
		}
		out := output.(Output)
		if !out.Found {
			return fmt.Sprintf("get(%s) -> absent", in.Key)
		}
		return fmt.Sprintf("get(%s) -> %s", in.Key, out.Value)
	},
}
