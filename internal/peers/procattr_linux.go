package peers

import (
	"os/exec"
	"syscall"
)

// setPdeathsig kills the peer if the test binary dies without running
// its cleanups (a test timeout panics past them).
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
