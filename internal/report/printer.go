package report

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Printer writes a text report and keeps the first write error, which Err
// returns: a renderer prints line after line and returns the error once, so
// a full disk or a closed pipe fails the command instead of being lost (as
// bufio.Writer does). After a failed write it writes nothing more.
type Printer struct {
	w   io.Writer
	err error
}

// NewPrinter prints to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// Write writes b unless an earlier write failed; the error is kept.
func (p *Printer) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	p.err = err
	return n, err
}

// The errors of fmt's printing functions below are kept by Write, and Err
// returns them.

// Printf prints as fmt.Printf does.
func (p *Printer) Printf(format string, a ...any) { _, _ = fmt.Fprintf(p, format, a...) }

// Println prints as fmt.Println does.
func (p *Printer) Println(a ...any) { _, _ = fmt.Fprintln(p, a...) }

// Print prints as fmt.Print does.
func (p *Printer) Print(a ...any) { _, _ = fmt.Fprint(p, a...) }

// Err is the first write error, or nil.
func (p *Printer) Err() error { return p.err }

// Table prints an aligned table: columns are separated by tabs, padded
// with two spaces, as kubectl's tables are. Nothing is written before Flush
// (or before a line without tabs ends a block of rows).
type Table struct {
	*Printer
	tw *tabwriter.Writer
}

// NewTable prints a table to w.
func NewTable(w io.Writer) *Table {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	return &Table{Printer: NewPrinter(tw), tw: tw}
}

// Flush writes the table out and returns the first error of printing or
// flushing it.
func (t *Table) Flush() error {
	if err := t.tw.Flush(); t.err == nil {
		t.err = err
	}
	return t.err
}
