package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/relay"
)

// bar draws a backfill's progress on w: done / total, rate and time left.
// On a terminal it redraws one line in place; elsewhere (a log file, CI)
// it prints a line at every tenth of the way, so that the output stays
// readable.
type bar struct {
	w        io.Writer
	tty      bool
	width    int
	lastStep int // the last tenth printed (not a terminal)
	lastLen  int // the length of the line drawn (a terminal)
	drawn    bool
}

// newBar returns a bar for w; tty says whether w is a terminal.
func newBar(w io.Writer, tty bool) *bar { return &bar{w: w, tty: tty, width: 30, lastStep: -1} }

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// update draws p.
func (b *bar) update(p relay.BackfillProgress) {
	if p.Total <= 0 {
		return
	}
	line := b.line(p)
	if b.tty {
		pad := ""
		if n := b.lastLen - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(b.w, "\r%s%s", line, pad)
		b.lastLen, b.drawn = len(line), true
		return
	}
	settled := p.Done + p.Failed
	step := settled * 10 / p.Total
	if step > b.lastStep {
		b.lastStep = step
		fmt.Fprintln(b.w, line)
	}
}

// finish ends the bar's line on a terminal.
func (b *bar) finish() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}

// line renders p: "[=====>    ] 120/300  40%  5.6 texts/s  32s left".
func (b *bar) line(p relay.BackfillProgress) string {
	settled := p.Done + p.Failed
	filled := settled * b.width / p.Total
	head := ""
	if filled < b.width {
		head = ">"
	}
	bar := strings.Repeat("=", filled) + head + strings.Repeat(" ", max(0, b.width-filled-len(head)))
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(settled) / s
	}
	left := "--"
	switch {
	case settled == p.Total:
		left = "0s"
	case rate > 0:
		left = (time.Duration(float64(p.Total-settled) / rate * float64(time.Second))).Round(time.Second).String()
	}
	s := fmt.Sprintf("[%s] %d/%d %3d%%  %.1f texts/s  %s left", bar, settled, p.Total, settled*100/p.Total, rate, left)
	if p.Failed > 0 {
		s += fmt.Sprintf("  (%d failed)", p.Failed)
	}
	return s
}
