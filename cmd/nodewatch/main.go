// Command nodewatch tells a team which Kubernetes node went down and which
// pods were on it, keeps the history needed to find the culprit, and alerts.
// See `nodewatch --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nodewatch/nodewatch/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
