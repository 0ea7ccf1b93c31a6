package storepebble_test

func crashChildMain() bool { return false }
