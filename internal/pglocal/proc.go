package pglocal

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startOwned starts cmd so that it dies with this process: the server gets
// SIGINT (fast shutdown) when the OS thread that started it exits. That
// thread is locked to a goroutine that lives exactly as long as the server,
// so the signal comes only when this whole process is gone (e.g. SIGKILL).
// onExit runs with the result of cmd.Wait.
func startOwned(cmd *exec.Cmd, cred *syscall.Credential, onExit func(error)) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread exits with this goroutine, after the
		// server is gone.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT, Setpgid: true}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		onExit(cmd.Wait())
	}()
	return <-started
}
