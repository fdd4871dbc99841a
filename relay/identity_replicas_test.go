package relay_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
			ic, tw, rs := runSharedReplicas(t, b, 40*time.Second, func(c *relay.Config) {
				c.Identity = &relay.IdentityBridge{Prompt: identityPrompt}
				// Prompts are paced per replica; at Twilio's default of 1
				// per second on a long code, 60 would take a minute.
				c.SendRate = func(string) float64 { return 50 }
			}, func(tw *twiliotest.Server, i, j int) error {
				if j > 0 {
					return nil
				}
				// The answer is a text sent after the prompt: one that
				// crossed it is not.
				return waitPrompt(tw, phoneOf(i), 30*time.Second)
			})
			checkThreads(t, ic, sharedNumbers, sharedPerNumber)
			prompts := map[string]int{}
			for _, m := range tw.Messages() {
				if m.Body != identityPrompt {
					t.Errorf("unexpected text to %s: %q", m.To, m.Body)
					continue
				}
				prompts[m.To]++
			}
			for i := 0; i < sharedNumbers; i++ {
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
