// Command demo replays the story on the simulated cluster: see
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
	flag.BoolVar(&o.Keep, "keep", false, "keep the cluster running until Ctrl-C")
	flag.Parse()
	o.Out = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := demo.Run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
