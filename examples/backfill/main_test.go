package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/relay"
)

func noEnv(string) string { return "" }

func TestDemoImportsAndChecksItself(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-demo", "80", "-budget", "2000"}, noEnv, &out, &errOut, false); err != nil {
		t.Fatalf("demo failed: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{
		"Importing 80 texts into Intercom",
		"Imported 80 texts of 3 customers",
		"skipped 1 never_sent, 1 not_a_phone, 2 agent_phone",
		"Intercom holds each of the 80 texts exactly once",
		"Second run: 84 texts in range, 80 imported before, 0 to import.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Not a terminal: one line per tenth at most, no carriage returns,
	// ending at 100%.
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if strings.Contains(errOut.String(), "\r") || len(lines) > 11 || !strings.Contains(lines[len(lines)-1], "80/80 100%") {
		t.Errorf("progress on a non-terminal:\n%s", errOut.String())
	}
}

func TestDemoDryRunPrintsPerCustomer(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-demo", "50", "-dry-run", "-numbers", "+14155550111"}, noEnv, &out, &errOut, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	// Only the texts of +14155550111 are read: customer 2's, and a text
	// scheduled for later.
	if !strings.Contains(s, "Dry run: 15 texts") || !strings.Contains(s, "Would import 14 texts of 1 customer;") || !strings.Contains(s, "skip 1 never_sent;") ||
		strings.Contains(s, "Imported") || strings.Contains(s, "+16285550102") || !strings.Contains(s, "+162******02") {
		t.Errorf("dry run output:\n%s", s)
	}
	if errOut.Len() != 0 {
		t.Errorf("a dry run drew progress: %q", errOut.String())
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	for _, args := range [][]string{
		{},                      // -since missing
		{"-since", "yesterday"}, // not a date
		{"-since", "2026-11-01", "-customer", "nope"},
		{"-demo", "5", "extra"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, noEnv, &out, &errOut, false); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	env := map[string]string{"SMSRELAY_STORE_URL": "mem://", "TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef"}
	err := run(context.Background(), []string{"-since", "2026-11-01"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{}, false)
	if err == nil || !strings.Contains(err.Error(), "INTERCOM_ACCESS_TOKEN is required") || !strings.Contains(err.Error(), "postgres:// or redis://") {
		t.Errorf("missing environment: %v", err)
	}
}

func TestBarOnATerminal(t *testing.T) {
	var w bytes.Buffer
	b := newBar(&w, true)
	b.update(relay.BackfillProgress{Total: 200, Done: 50, Elapsed: 10 * time.Second})
	b.update(relay.BackfillProgress{Total: 200, Done: 199, Failed: 1, Elapsed: 40 * time.Second})
	b.finish()
	s := w.String()
	if !strings.HasPrefix(s, "\r[=======>") || !strings.Contains(s, "50/200  25%  5.0 texts/s  30s left") ||
		!strings.Contains(s, "200/200 100%") || !strings.Contains(s, "(1 failed)") || !strings.HasSuffix(s, "\n") {
		t.Errorf("bar drew %q", s)
	}
}
