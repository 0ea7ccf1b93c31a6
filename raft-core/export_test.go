package raftcore

// SetLiveCopyMaxBuffer lowers the bound of a state copy's buffer for a
// test; the returned function restores it.
func SetLiveCopyMaxBuffer(n int) (restore func()) {
	old := liveCopyMaxBuffer
	liveCopyMaxBuffer = n
	return func() { liveCopyMaxBuffer = old }
}
