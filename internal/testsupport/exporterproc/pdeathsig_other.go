//go:build !linux

package exporterproc

import "os/exec"

// setPdeathsig does nothing: only Linux has PR_SET_PDEATHSIG.
func setPdeathsig(*exec.Cmd) {}
