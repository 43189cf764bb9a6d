//go:build !linux

package amtest

import "os/exec"

func setPdeathsig(*exec.Cmd) {}
