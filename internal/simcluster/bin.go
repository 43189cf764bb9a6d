package simcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/internal/testenv"
)

// Binaries the cluster needs, and kwok's stage and metric manifests.
var required = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "stages.yaml", "metrics-resource.yaml", "crds.yaml"}

// EnvBin overrides where the binaries are looked for.
const EnvBin = "NODEWATCH_SIMCLUSTER_BIN"

// EnvRequire, when set, makes a missing binary a test failure, not a skip,
// as $CI=true does (testenv.Missing); .ci/run sets both.
const EnvRequire = "NODEWATCH_REQUIRE_SIMCLUSTER"

// BinDir finds the binaries: $NODEWATCH_SIMCLUSTER_BIN, or what
// hack/build-simcluster.sh prints (it builds nothing when up to date).
func BinDir() (string, error) {
	if d := os.Getenv(EnvBin); d != "" {
		return d, checkBins(d)
	}
	script := filepath.Join(repoRoot(), "hack", "build-simcluster.sh")
	cmd := exec.Command("bash", script) //nolint:gosec // G204: the repository's own build script
	cmd.Env = append(os.Environ(), "NODEWATCH_SIMCLUSTER_CHECK_ONLY=1")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("simulated cluster binaries missing: run %s (%w)", script, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	d := lines[len(lines)-1]
	return d, checkBins(d)
}

func checkBins(d string) error {
	var missing []string
	for _, b := range required {
		if st, err := os.Stat(filepath.Join(d, b)); err != nil || st.Size() == 0 { //nolint:gosec // G703: the cache of binaries hack/build-simcluster.sh built
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("simulated cluster binaries missing in %s: %s (run hack/build-simcluster.sh)", d, strings.Join(missing, ", "))
	}
	return nil
}

// Require returns the binary directory, or skips the test when the binaries
// are missing — unless $CI is true or $NODEWATCH_REQUIRE_SIMCLUSTER is set,
// when it fails it.
func Require(t testing.TB) string {
	t.Helper()
	d, err := BinDir()
	if err == nil {
		return d
	}
	testenv.Missing(t, EnvRequire, err.Error())
	return ""
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
