package relay_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// TestReplicasIdentityBridge is TestReplicasShareOneStore with the
// identity bridge on: three relays on one shared store, 60 unknown numbers
// texting 5 times each, all at once, over an enforced Intercom budget.
// Each number must be asked exactly once, its second text (sent once the
// prompt went out) must be read as the answer (without an address: a
// note, and never asked again), with no 429 from Intercom and no dead
// letter.
func TestReplicasIdentityBridge(t *testing.T) {
	for _, b := range sharedBackends {
		t.Run(b.name, func(t *testing.T) {
			shared := b.setup(t)
			const (
				replicas  = 3
				numbers   = 60
				perNumber = 5
				budget    = 80
				window    = time.Second
			)
			ic := intercomtest.NewServer(intercomtest.WithBudget(budget, window))
			t.Cleanup(ic.Close)
			tw := twiliotest.NewServer()
			t.Cleanup(tw.Close)
			var rs []*replica
			for k := 0; k < replicas; k++ {
				rs = append(rs, newReplica(t, shared, ic, tw, func(c *relay.Config) {
					c.Limiter = shared.limiter(t, budget, window, replicas)
					c.Identity = &relay.IdentityBridge{Prompt: identityPrompt}
					// Prompts are paced per replica; at Twilio's default
					// of 1 per second on a long code, 60 would take a
					// minute.
					c.SendRate = func(string) float64 { return 50 }
				}))
			}
			start := time.Now()
			var stops []func()
			for _, rp := range rs {
				stop := rp.run(t)
				defer stop()
				stops = append(stops, stop)
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			ready := make(chan struct{})
			errs := make(chan error, numbers)
			for i := 0; i < numbers; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-ready
					for j := 0; j < perNumber; j++ {
						rp := rs[(i*perNumber+j)%replicas]
						if err := rp.text(ctx, phoneOf(i), textBody(i, j)); err != nil {
							errs <- err
							return
						}
						if j == 0 {
							// The answer is a text sent after the
							// prompt: one that crossed it is not.
							if err := waitPrompt(tw, phoneOf(i), 30*time.Second); err != nil {
								errs <- err
								return
							}
						}
					}
				}()
			}
			close(ready)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			waitQuiet(t, 40*time.Second, ic, rs[0].r, numbers*perNumber)
			t.Logf("%d texts relayed with the identity bridge in %v; Intercom saw %d requests, Twilio %d texts",
				numbers*perNumber, time.Since(start).Round(time.Millisecond), len(ic.Requests()), len(tw.Messages()))
			for _, stop := range stops {
				stop()
			}

			checkThreads(t, ic, numbers, perNumber)
			prompts := map[string]int{}
			for _, m := range tw.Messages() {
				if m.Body != identityPrompt {
					t.Errorf("unexpected text to %s: %q", m.To, m.Body)
					continue
				}
				prompts[m.To]++
			}
			for i := 0; i < numbers; i++ {
				if n := prompts[phoneOf(i)]; n != 1 {
					t.Errorf("number %d was asked %d times, want once", i, n)
				}
			}
			for _, c := range ic.Conversations() {
				var asked, answered int
				for _, p := range c.Parts {
					switch {
					case p.PartType != "note":
					case strings.Contains(p.Body, "we asked the customer by SMS"):
						asked++
					case strings.Contains(p.Body, "holds no address"):
						answered++
					}
				}
				if asked != 1 || answered != 1 {
					t.Errorf("conversation %s: %d prompt notes and %d answer notes, want 1 and 1", c.ID, asked, answered)
				}
			}
			if n := ic.RateLimited(); n != 0 {
				t.Errorf("Intercom answered 429 %d times", n)
			}
			checkQueueEmpty(t, rs[0].r)
		})
	}
}

// waitPrompt waits until Twilio was asked to send the identity prompt to
// to.
func waitPrompt(tw *twiliotest.Server, to string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, m := range tw.Messages() {
			if m.To == to && m.Body == identityPrompt {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("no prompt to %s within %v", to, timeout)
}
