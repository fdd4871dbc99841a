package relay_test

import (
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
)

func TestTracesFollowATextFromWebhookToEachCall(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.TracerProvider = tp })
	h.text(customer, "Hello, please call +1 415 555 0199")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Sure, secret body")
	h.drain()

	spans := rec.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	hook := byName["smsrelay.webhook twilio.messages"]
	job := byName["smsrelay.job "+relay.KindInbound]
	if len(hook) != 1 || len(job) != 1 {
		t.Fatalf("spans: %d inbound webhook, %d inbound job; want one each (all: %v)", len(hook), len(job), names(spans))
	}
	if job[0].Parent().SpanID() != hook[0].SpanContext().SpanID() || job[0].SpanContext().TraceID() != hook[0].SpanContext().TraceID() {
		t.Errorf("the job's span is not a child of the webhook's")
	}
	calls := 0
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "intercom ") && s.Parent().SpanID() == job[0].SpanContext().SpanID() {
			calls++
		}
	}
	if calls < 2 {
		t.Errorf("%d Intercom call spans under the inbound job, want its search and its start (all: %v)", calls, names(spans))
	}
	send := byName["twilio messages.create"]
	reply := byName["smsrelay.job "+relay.KindIntercom]
	if len(send) != 1 || len(reply) != 1 || send[0].Parent().SpanID() != reply[0].SpanContext().SpanID() {
		t.Errorf("want one Twilio send span under the reply's job (all: %v)", names(spans))
	}
	for _, s := range spans {
		for _, a := range s.Attributes() {
			v := a.Value.Emit()
			for _, secret := range []string{"4155550123", "4155550199", "Hello", "secret body"} {
				if strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s = %q carries %q", s.Name(), a.Key, v, secret)
				}
			}
		}
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}
