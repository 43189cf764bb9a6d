package report

import "testing"

func TestMeasured(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1000: "1000", 2048: "2.00Ki", 537 << 20: "537Mi", 1219996105: "1.14Gi", 50 << 20: "50.0Mi", 3 << 40: "3.00Ti", -(5 << 20): "-5.00Mi",
	} {
		if got := Measured(n); got != want {
			t.Errorf("Measured(%d) = %q, want %q", n, got, want)
		}
	}
}
