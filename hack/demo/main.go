// Command demo replays the story on the simulated cluster, end to end: see
// internal/demo. `make demo` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nodewatch/nodewatch/internal/demo"
)

func main() {
	var o demo.Options
	flag.StringVar(&o.Nodewatch, "nodewatch", "bin/nodewatch", "the nodewatch binary to run")
	flag.BoolVar(&o.Keep, "keep", false, "after the story, keep the cluster, nodewatch and the failures running until Ctrl-C")
	flag.Parse()
	o.Out = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := demo.Run(ctx, o)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err == nil:
	case interrupted:
		fmt.Fprintln(os.Stderr, "demo: interrupted; everything it started is stopped")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
