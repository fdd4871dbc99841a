package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// TestSecondSignalExitsAtOnce builds the server, starts it with a job that
// hangs in Intercom and a long drain, and sends SIGINT twice: the first
// starts a drain that would last a minute, the second ends the process at
// once. Building takes most of its few seconds.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fakes, env := fakeEnv(t)
	ic, tw := fakes.IC, fakes.TW
	if err := ic.Fail("POST", "/contacts/search", intercomtest.Fault{Hang: true}); err != nil {
		t.Fatal(err)
	}
	env["SMSRELAY_DRAIN_TIMEOUT"], env["SMSRELAY_LOG_FORMAT"] = "1m", "json"
	cmd := exec.Command(bin)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(what string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the server ended before logging %q", what)
				}
				if strings.Contains(l, what) {
					return l
				}
			case <-timeout:
				t.Fatalf("the server did not log %q", what)
			}
		}
	}
	l := waitLine("smsrelay: listening")
	_, after, _ := strings.Cut(l, `"addr":"`)
	addr, _, _ := strings.Cut(after, `"`)
	s := &testServer{base: "http://" + addr, ic: ic, tw: tw}
	s.text(t, "+14155550123", "Hello")
	deadline := time.Now().Add(10 * time.Second)
	for len(ic.Requests()) == 0 { // the job is in flight, hanging
		if time.Now().After(deadline) {
			t.Fatal("the job never reached Intercom")
		}
		time.Sleep(10 * time.Millisecond)
	}

	cmd.Process.Signal(syscall.SIGINT)
	waitLine("shutting down")
	time.Sleep(200 * time.Millisecond) // still draining: the job hangs
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("after the second signal: %v, want the process ended by it", err)
		}
		t.Logf("exited %v after the second signal: %v", time.Since(sent).Round(time.Millisecond), err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server was still running 10s after the second signal")
	}
}
