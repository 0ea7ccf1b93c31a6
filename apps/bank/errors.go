package bank

import "errors"

// Errors of the bank's API and client.
var (
	// ErrInvalid: a command or request is malformed.
	ErrInvalid = errors.New("bank: invalid request")
	// ErrInsufficientFunds: the account holds less than the amount.
	ErrInsufficientFunds = errors.New("bank: insufficient funds")
	// ErrNoSuchAccount: an account named does not exist.
	ErrNoSuchAccount = errors.New("bank: no such account")
	// ErrAccountExists: the account to open exists.
	ErrAccountExists = errors.New("bank: account exists")
)
