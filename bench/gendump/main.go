// Command gendump writes a synthetic `kubectl get nodes,pods -A -o json`
// dump for benchmarking `nodewatch check -f`: -nodes nodes and -pods pods
// that look like a real cluster's (see package dumpgen), deterministic for a
// -seed. What a correct check must find in it is printed to stderr, and with
// -stats as JSON to stdout.
//
//	go run ./bench/gendump -nodes 5000 -pods 150000 -o bench/out/dump.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nodewatch/nodewatch/internal/dump/dumpgen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gendump:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gendump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 5000, "number of nodes")
	pods := fs.Int("pods", 150000, "number of pods")
	seed := fs.Uint64("seed", 1, "random seed; the same seed writes the same dump")
	out := fs.String("o", "-", "output file ('-' for stdout)")
	stats := fs.Bool("stats", false, "print the expected findings as JSON to stdout (needs -o FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stats && *out == "-" {
		return fmt.Errorf("-stats writes to stdout, so the dump needs -o FILE")
	}
	w, file := stdout, (*os.File)(nil)
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }() // on error only; closed below to see write errors
		w, file = f, f
	}
	s, err := dumpgen.Write(w, dumpgen.Config{Nodes: *nodes, Pods: *pods, Seed: *seed})
	if err != nil {
		return err
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return err
		}
	}
	// A summary for the person running it; the dump is written already.
	_, _ = fmt.Fprintf(stderr, "gendump: %d nodes (%d not Ready, %d cordoned), %d pods (%d on not-Ready nodes, %d unschedulable), %.1f MB\n",
		s.Nodes, s.NotReadyNodes, s.CordonedNodes, s.Pods, s.PodsOnNotReady, s.Unschedulable, float64(s.Bytes)/1e6)
	if *stats {
		return json.NewEncoder(stdout).Encode(s)
	}
	return nil
}
