package relay_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) { c.MeterProvider = mp })
	form := h.text(customer, "Hello")
	h.textForm(form) // a duplicate delivery
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Hi!")
	h.drain()
	h.text(customer, "STOP")
	h.drain()
	h.reply(c.ID, "Still there?")
	h.drain()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sum := func(name string, attrs ...attribute.KeyValue) int64 {
		var n int64
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != name {
					continue
				}
				var points []metricdata.DataPoint[int64]
				switch d := m.Data.(type) {
				case metricdata.Sum[int64]:
					points = d.DataPoints
				case metricdata.Gauge[int64]:
					points = d.DataPoints
				}
			next:
				for _, p := range points {
					for _, a := range attrs {
						if v, ok := p.Attributes.Value(a.Key); !ok || v != a.Value {
							continue next
						}
					}
					n += p.Value
				}
			}
		}
		return n
	}
	str := attribute.String
	checks := []struct {
		name string
		got  int64
		want int64
	}{
		{"twilio accepted", sum("smsrelay.webhook.requests", str("handler", "twilio.messages"), str("result", "accepted")), 2},
		{"twilio duplicate", sum("smsrelay.webhook.requests", str("handler", "twilio.messages"), str("result", "duplicate")), 1},
		{"intercom accepted", sum("smsrelay.webhook.requests", str("handler", "intercom"), str("result", "accepted")), 2},
		{"inbound jobs completed", sum("smsrelay.jobs", str("kind", "twilio.inbound"), str("outcome", "completed")), 2},
		{"texts sent", sum("smsrelay.sms.sent"), 1},
		{"replies withheld after STOP", sum("smsrelay.sms.withheld", str("reason", "opted_out")), 1},
		{"ready jobs left", sum("smsrelay.queue.jobs", str("state", "ready")), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	// A rejected request counts too.
	status, _, err := twiliotest.Post(context.Background(), h.srv.Client(), "wrongtoken0123456789", h.srv.URL+"/twilio/messages", twiliotest.InboundForm(customer, ourNumber, "x"))
	if err != nil || status != 403 {
		t.Fatalf("forged request: %d %v", status, err)
	}
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if n := sum("smsrelay.webhook.requests", str("result", "rejected")); n != 1 {
		t.Errorf("rejected requests = %d, want 1", n)
	}
}
