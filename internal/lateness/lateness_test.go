package lateness

import (
	"runtime"
	"testing"
	"time"
)

// TestProbeSeesABusyProcessor keeps the only processor busy for 60ms: the
// probe cannot wake on time (Go preempts a running goroutine after about
// 10ms), and must say so.
func TestProbeSeesABusyProcessor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p := Start()
	time.Sleep(5 * time.Millisecond) // let it start sleeping
	for end := time.Now().Add(60 * time.Millisecond); time.Now().Before(end); {
	}
	late := p.Stop()
	if late < 5*time.Millisecond {
		t.Fatalf("lateness %v with the only processor busy for 60ms, want at least 5ms", late)
	}
	if again := p.Stop(); again != late {
		t.Fatalf("second Stop = %v, first %v", again, late)
	}
}
