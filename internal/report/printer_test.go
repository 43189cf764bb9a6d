package report

import (
	"errors"
	"strings"
	"testing"
)

// failAfter accepts n bytes, then fails every write.
type failAfter struct {
	n   int
	got strings.Builder
}

var errFull = errors.New("no space left on device")

func (f *failAfter) Write(b []byte) (int, error) {
	if f.got.Len()+len(b) > f.n {
		return 0, errFull
	}
	return f.got.Write(b)
}

func TestPrinterKeepsTheFirstWriteError(t *testing.T) {
	w := &failAfter{n: 6}
	p := NewPrinter(w)
	p.Println("first")
	p.Printf("%s\n", "second") // fails: the disk is full
	w.n = 1 << 20              // room again: nothing more may be written
	p.Print("third\n")
	if !errors.Is(p.Err(), errFull) {
		t.Fatalf("Err() = %v, want %v", p.Err(), errFull)
	}
	if got := w.got.String(); got != "first\n" {
		t.Fatalf("written %q, want only the lines before the failure", got)
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	tw := NewTable(&b)
	tw.Println("NODE\tREADY")
	tw.Printf("%s\t%s\n", "worker-10", "True")
	if b.Len() != 0 {
		t.Fatalf("a table row was written before Flush: %q", b.String())
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "NODE       READY\nworker-10  True\n"
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}

	tw = NewTable(&failAfter{n: 0})
	tw.Println("NODE\tREADY")
	if err := tw.Flush(); !errors.Is(err, errFull) {
		t.Fatalf("Flush() = %v, want %v", err, errFull)
	}
}
