package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a process this Local started: a goroutine waits for it, so
// that its exit is seen (and it is reaped) while this process lives. After
// the CLI exits, init reaps it.
type child struct {
	done chan struct{}
	err  error
}

func (l *Local) logPath(id uint64) string {
	return filepath.Join(l.stateDir, "logs", fmt.Sprintf("node%d.log", id))
}

func (l *Local) pidPath(id uint64) string {
	return filepath.Join(l.stateDir, "run", fmt.Sprintf("node%d.pid", id))
}

// startProcess starts binary with args in the background: its own process
// group (so a Ctrl-C of the CLI does not reach it), output appended to the
// node's log, its pid in the node's pid file.
func (l *Local) startProcess(id uint64, binary string, args []string, env []string) (int, error) {
	for _, d := range []string{filepath.Dir(l.logPath(id)), filepath.Dir(l.pidPath(id))} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return 0, fmt.Errorf("deploy: %w", err)
		}
	}
	logFile, err := os.OpenFile(l.logPath(id), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("deploy: node %d log: %w", id, err)
	}
	fmt.Fprintf(logFile, "--- %s deploy: starting %s %s\n", time.Now().UTC().Format(time.RFC3339), label(binary), strings.Join(args, " "))
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return 0, fmt.Errorf("deploy: start node %d: %w", id, err)
	}
	ch := &child{done: make(chan struct{})}
	pid := cmd.Process.Pid
	l.mu.Lock()
	l.children[pid] = ch
	l.mu.Unlock()
	go func() {
		ch.err = cmd.Wait()
		logFile.Close()
		close(ch.done)
	}()
	if err := os.WriteFile(l.pidPath(id), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return pid, fmt.Errorf("deploy: pid file: %w", err)
	}
	return pid, nil
}

// exited reports whether the process pid of node id is gone, and why when
// this Local started it.
func (l *Local) exited(id uint64, pid int) (bool, error) {
	if pid <= 0 {
		return true, nil
	}
	l.mu.Lock()
	ch := l.children[pid]
	l.mu.Unlock()
	if ch != nil {
		select {
		case <-ch.done:
			return true, ch.err
		default:
			return false, nil
		}
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return true, nil
	}
	// The pid may have been reused since: on Linux, check that it is still
	// this node's process and not a zombie.
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		if !bytes.Contains(cmdline, []byte("\x00--id\x00"+strconv.FormatUint(id, 10)+"\x00")) {
			return true, nil
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				return true, nil
			}
		}
	}
	return false, nil
}

// stopProcess stops node id's process gracefully: SIGTERM (the app hands
// leadership away and drains), then SIGKILL once timeout has passed. It
// reports whether it had to kill.
func (l *Local) stopProcess(ctx context.Context, id uint64, pid int, timeout time.Duration) (killed bool, err error) {
	if gone, _ := l.exited(id, pid); gone {
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, fmt.Errorf("deploy: stop node %d (pid %d): %w", id, pid, err)
	}
	if l.waitExit(ctx, id, pid, timeout) {
		_ = os.Remove(l.pidPath(id))
		return false, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !l.waitExit(ctx, id, pid, 10*time.Second) {
		return true, fmt.Errorf("deploy: node %d (pid %d) survived SIGKILL", id, pid)
	}
	_ = os.Remove(l.pidPath(id))
	return true, nil
}

// waitExit polls until the process is gone or timeout passes.
func (l *Local) waitExit(ctx context.Context, id uint64, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if gone, _ := l.exited(id, pid); gone {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logTail returns the last lines of node id's log.
func (l *Local) logTail(id uint64, lines int) string {
	data, err := os.ReadFile(l.logPath(id))
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// childEnv is the environment of a node: this process's, without KVSTORE_*
// settings (the deploy config decides the flags), plus GOMEMLIMIT when the
// node has a memory limit.
func childEnv(n Node) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KVSTORE_") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			env = append(env, kv)
		}
	}
	if n.Resources.MaxMemoryMB > 0 {
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%dMiB", n.Resources.MaxMemoryMB*9/10))
	}
	return env
}
