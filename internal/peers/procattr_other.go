//go:build !linux

package peers

import "os/exec"

func setPdeathsig(*exec.Cmd) {}
