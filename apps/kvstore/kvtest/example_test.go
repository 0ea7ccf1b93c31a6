package kvtest_test

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
)

// A get that misses a put acknowledged before it started is not
// linearizable.
func ExampleModel() {
	history := []porcupine.Operation{
		{ClientId: 0, Input: kvtest.Input{Put: true, Key: "x", Value: "1"}, Call: 0, Return: 10},
		{ClientId: 1, Input: kvtest.Input{Key: "x"}, Output: kvtest.Output{}, Call: 20, Return: 30},
	}
	fmt.Println(porcupine.CheckOperationsTimeout(kvtest.Model, history, 10*time.Second))
	// Output: Illegal
}
