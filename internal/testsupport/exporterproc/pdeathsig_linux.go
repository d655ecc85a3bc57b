package exporterproc

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel kill the child with SIGKILL when the thread
// that started it ends.
func setPdeathsig(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
