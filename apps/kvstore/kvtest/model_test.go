package kvtest

import (
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func TestModelRejectsAStaleRead(t *testing.T) {
	op := func(client int, in Input, out Output, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret}
	}
	tests := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"read after write sees it", []porcupine.Operation{
			op(0, Input{Put: true, Key: "x", Value: "1"}, Output{}, 0, 10),
			op(1, Input{Key: "x"}, Output{Found: true, Value: "1"}, 20, 30),
		}, porcupine.Ok},
		{"read after write misses it", []porcupine.Operation{
			op(0, Input{Put: true, Key: "x", Value: "1"}, Output{}, 0, 10),
			op(1, Input{Key: "x"}, Output{}, 20, 30),
		}, porcupine.Illegal},
		{"read goes back to an older value", []porcupine.Operation{
			op(0, Input{Put: true, Key: "x", Value: "1"}, Output{}, 0, 10),
			op(0, Input{Put: true, Key: "x", Value: "2"}, Output{}, 20, 30),
			op(1, Input{Key: "x"}, Output{Found: true, Value: "2"}, 40, 50),
			op(2, Input{Key: "x"}, Output{Found: true, Value: "1"}, 60, 70),
		}, porcupine.Illegal},
		{"a put of unknown outcome may apply late", []porcupine.Operation{
			op(0, Input{Put: true, Key: "x", Value: "1"}, Output{}, 0, math.MaxInt64),
			op(1, Input{Key: "x"}, Output{}, 20, 30),
			op(1, Input{Key: "x"}, Output{Found: true, Value: "1"}, 40, 50),
		}, porcupine.Ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(Model, tt.ops, 10*time.Second); got != tt.want {
				t.Fatalf("check: %v, want %v", got, tt.want)
			}
		})
	}
}
