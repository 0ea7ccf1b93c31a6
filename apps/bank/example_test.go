package bank_test

import (
	"fmt"

	"github.com/jangada-io/jangada/apps/bank"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// A transfer sent twice with the same idempotency key moves the money once.
func ExampleNewSessionMachine() {
	m := bank.NewMachine()
	sm, _ := bank.NewSessionMachine(m) // a raft node applies the log to sm
	sm.Apply(1, bank.SessionCommand{Cmd: bank.Command{Op: bank.OpCreate, ID: "alice", Amount: 100}})
	sm.Apply(2, bank.SessionCommand{Cmd: bank.Command{Op: bank.OpCreate, ID: "bob"}})
	pay := bank.SessionCommand{Op: raftcore.SessionKeyed, Key: "invoice-17", Cmd: bank.Command{Op: bank.OpTransfer, From: "alice", To: "bob", Amount: 30}}
	first := sm.Apply(3, pay)
	retry := sm.Apply(4, pay)
	accounts, _ := m.Accounts()
	fmt.Println(first.Value.Outcome, retry.Duplicate, accounts["alice"], accounts["bob"])
	// Output: ok true 70 30
}
