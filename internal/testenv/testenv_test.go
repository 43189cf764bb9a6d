package testenv

import "testing"

const probeEnv = "NODEWATCH_REQUIRE_TESTENV_PROBE"

// A missing piece skips a developer's run, and fails one under $CI=true or
// the test's own $NODEWATCH_REQUIRE_*.
func TestMissing(t *testing.T) {
	for _, tc := range []struct{ ci, require, want string }{
		{"", "", "skip"}, {"false", "", "skip"}, {"true", "", "fatal"}, {"1", "", "fatal"}, {"", "1", "fatal"}, {"false", "1", "fatal"},
	} {
		t.Setenv("CI", tc.ci)
		t.Setenv(probeEnv, tc.require)
		if ended, msg := Ending(t, func(tb testing.TB) { Missing(tb, probeEnv, "no widget") }); ended != tc.want {
			t.Errorf("CI=%q %s=%q: ended %q (%s), want %s", tc.ci, probeEnv, tc.require, ended, msg, tc.want)
		}
	}
}

// Chromium ends the test by Missing when $NODEWATCH_CHROMIUM names nothing.
func TestChromiumMissing(t *testing.T) {
	t.Setenv(EnvChromium, "/nonexistent/chromium")
	t.Setenv("CI", "true")
	if ended, msg := Ending(t, func(tb testing.TB) { Chromium(tb, probeEnv) }); ended != "fatal" {
		t.Errorf("ended %q (%s), want fatal under CI=true", ended, msg)
	}
}
