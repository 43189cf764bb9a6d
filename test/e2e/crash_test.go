package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/notify/slack/slacktest"
	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// TestRandomCrashes is "never lost" under random crashes, in the default
// configuration (30 s grouping window): in each cycle one node fails —
// sometimes two, a few seconds apart, inside one window — while the Slack
// receiver answers in a random way (ok, 500, 429 with Retry-After, or no
// answer at all); nodewatch is SIGKILLed or SIGTERMed at a random instant
// 0–40 s after the failure and started again, the receiver heals, and the
// nodes recover. Every failure and every recovery must arrive; duplicates
// are counted and reported: none may follow a SIGTERM, and a SIGKILL may
// cost at most one (a kill between a send and its record).
//
// Seeded: NODEWATCH_CRASH_SEED replays a run, NODEWATCH_CRASH_CYCLES sets
// its length (10 here and in CI; the 30 with =30).
func TestRandomCrashes(t *testing.T) {
	// Mostly waiting (the controller's grace, the recoveries' window): it
	// runs beside the demo, the other parallel test, to keep CI short.
	t.Parallel()
	cycles := envInt(t, "NODEWATCH_CRASH_CYCLES", 10)
	seed := int64(envInt(t, "NODEWATCH_CRASH_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("seed %d (replay with NODEWATCH_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0)) //nolint:gosec // a seed: any bits will do

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cycles)*3*time.Minute+5*time.Minute)
	defer cancel()
	// A short grace keeps the cycles quick; every node fails once, so
	// none of them counts as flapping (two failures in 15 minutes).
	c := simcluster.StartForTest(t, simcluster.Options{NodeMonitorGracePeriod: 20 * time.Second})
	nodes, err := c.AddNodes(ctx, "node", 2*cycles, simcluster.NodeSize{})
	if err != nil {
		t.Fatal(err)
	}
	rx := slacktest.New()
	defer rx.Close()
	dataDir := t.TempDir()
	env := []string{"NODEWATCH_SLACK_WEBHOOK=" + rx.URL}
	d := startDaemon(t, c.Kubeconfig, dataDir, env) // the defaults

	modes := []struct {
		name  string
		fault *slacktest.Fault
	}{
		{"ok", nil},
		{"500", &slacktest.Fault{Status: 500}},
		{"429", &slacktest.Fault{Status: 429, RetryAfter: "2"}},
		{"hang", &slacktest.Fault{Status: 503, Hang: true}},
	}
	next := 0
	var failed []string
	kills := map[string]int{}
	for cycle := range cycles {
		victims := []string{nodes[next]}
		next++
		if rng.IntN(3) == 0 {
			victims = append(victims, nodes[next])
			next++
		}
		mode := modes[rng.IntN(len(modes))]
		if mode.fault != nil {
			rx.FailAll(*mode.fault)
		}
		killAfter := time.Duration(rng.Int64N(int64(40 * time.Second)))
		sigkill := rng.IntN(2) == 0
		signal := "SIGTERM"
		if sigkill {
			signal = "SIGKILL"
		}
		kills[signal]++
		start := time.Now()
		for i, n := range victims {
			if i > 0 {
				time.Sleep(time.Duration(1+rng.IntN(8)) * time.Second)
			}
			if err := c.FailNode(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		failed = append(failed, victims...)
		time.Sleep(time.Until(start.Add(killAfter)))
		if sigkill {
			d.kill()
		} else {
			d.stop()
		}
		d = startDaemon(t, c.Kubeconfig, dataDir, env)
		rx.Heal()
		t.Logf("cycle %d: %v failed, receiver %s, %s after %s", cycle, victims, mode.name, signal, killAfter.Round(time.Millisecond))
		for _, n := range victims {
			if err := c.WaitNodeReady(ctx, n, "Unknown"); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, ctx, 2*time.Minute, "the failures of "+strings.Join(victims, ", "), func() bool {
			for _, n := range victims {
				if downs(rx, n) == 0 {
					return false
				}
			}
			return true
		})
		for _, n := range victims {
			if err := c.RecoverNode(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, ctx, 2*time.Minute, "the recoveries of "+strings.Join(victims, ", "), func() bool {
			for _, n := range victims {
				if recoveries(rx, n) == 0 {
					return false
				}
			}
			return true
		})
	}
	time.Sleep(3 * time.Second) // room for a late duplicate
	d.stop()
	dups := 0
	for _, n := range failed {
		dn, rn := downs(rx, n), recoveries(rx, n)
		if dn == 0 || rn == 0 {
			t.Errorf("%s: %d down and %d recovery messages; none may be lost", n, dn, rn)
		}
		dups += max(dn-1, 0) + max(rn-1, 0)
	}
	t.Logf("%d cycles, %d node failures, %d SIGKILLs, %d SIGTERMs: every failure and recovery delivered, %d duplicates; messages:%s",
		cycles, len(failed), kills["SIGKILL"], kills["SIGTERM"], dups, headers(rx))
	if dups > kills["SIGKILL"] {
		t.Errorf("%d duplicates, more than one per SIGKILL (%d)", dups, kills["SIGKILL"])
	}
}

// listed matches a grouped message's headline: "2 more nodes down: a, b".
var listed = regexp.MustCompile(`\d+ (?:more )?nodes (down|recovered): (.*)$`)

// downs counts the messages announcing that node is down, alone or in a group.
func downs(rx *slacktest.Receiver, node string) int { return mentions(rx, node, "down", " is down") }

// recoveries counts the messages announcing node's recovery.
func recoveries(rx *slacktest.Receiver, node string) int {
	return mentions(rx, node, "recovered", " recovered (")
}

func mentions(rx *slacktest.Receiver, node, what, alone string) int {
	n := 0
	for _, m := range rx.Messages() {
		h := header(m)
		if strings.Contains(" "+h, " "+node+alone) {
			n++
			continue
		}
		if g := listed.FindStringSubmatch(h); g != nil && g[1] == what {
			for _, name := range strings.Split(g[2], ", ") {
				if name == node {
					n++
				}
			}
		}
	}
	return n
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}
