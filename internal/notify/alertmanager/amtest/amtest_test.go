package amtest

import (
	"bytes"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/internal/peers"
	"github.com/nodewatch/nodewatch/internal/testenv"
)

// binary runs Binary as a test would, and says how it ended the test.
func binary(t *testing.T) (bin, ended, msg string) {
	ended, msg = testenv.Ending(t, func(tb testing.TB) { bin = Binary(tb) })
	return bin, ended, msg
}

// A missing binary skips a developer's run and fails CI's, saying how to
// build it.
func TestBinaryMissing(t *testing.T) {
	t.Setenv(EnvBin, filepath.Join(t.TempDir(), "alertmanager"))
	for _, tc := range []struct {
		require string
		want    string
	}{{"", "skip"}, {"1", "fatal"}} {
		t.Setenv(EnvRequire, tc.require)
		t.Setenv("CI", "") // CI=true alone makes it a failure (testenv)
		_, ended, msg := binary(t)
		if ended != tc.want || !strings.Contains(msg, "hack/build-peers.sh") {
			t.Errorf("%s=%q: ended %q (%s), want %s naming hack/build-peers.sh", EnvRequire, tc.require, ended, msg, tc.want)
		}
	}
}

// Binary finds the checkout from the package's source, not the working
// directory, so any package's tests (and e2e) can use it.
func TestBinaryFromAnyDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	root, err := peers.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, file, _, _ := runtime.Caller(0); !strings.HasPrefix(file, root+string(filepath.Separator)) {
		t.Errorf("repoRoot() = %s, not above %s", root, file)
	}
	bin, ended, msg := binary(t)
	switch ended {
	case "fatal":
		t.Fatal(msg)
	case "skip":
		t.Skipf("no Alertmanager here: %s", msg)
	}
	base := Start(t, bin, "route: {receiver: default}\nreceivers: [{name: default}]\n")
	body := `[{"labels":{"alertname":"AmtestProbe","source":"amtest"},"annotations":{"summary":"probe"}}]`
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status and headers are checked
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := Alerts(t, base, `source="amtest"`, `alertname="AmtestProbe"`)
		if len(got) == 1 && got[0].Annotations["summary"] == "probe" && !got[0].StartsAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alerts = %+v, want the probe", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := Alerts(t, base, `source="other"`); len(got) != 0 {
		t.Errorf("filter source=other: %+v, want none", got)
	}
}
