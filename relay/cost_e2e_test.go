package relay_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms"
)

func TestCostGuardOnAgentReplies(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Cost = relay.CostGuard{Transliterate: true, MaxSegments: 1}
		c.MeterProvider = mp
	})
	h.text(customer, "Where is my order?")
	h.drain()
	c := h.onlyConversation()

	// Curly quotes and a long dash would make this UCS-2 and 2 segments.
	h.reply(c.ID, "<p>It’s on its way — it left our warehouse this morning and should reach you by Friday, “weather permitting”. We’ll text you the tracking link…</p>")
	h.drain()
	msgs := h.sent()
	if len(msgs) != 1 {
		t.Fatalf("sent %d texts, want 1", len(msgs))
	}
	if seg := twiliosms.CountSegments(msgs[0].Body); seg.Encoding != twiliosms.GSM7 || seg.Segments != 1 {
		t.Errorf("sent %q as %d %s segments, want 1 GSM-7", msgs[0].Body, seg.Segments, seg.Encoding)
	}
	if !strings.Contains(msgs[0].Body, `It's on its way - it left`) || !strings.HasSuffix(msgs[0].Body, "link...") {
		t.Errorf("sent %q, want the typographic characters transliterated", msgs[0].Body)
	}

	// A reply over the cap goes as several texts of one segment each.
	h.reply(c.ID, strings.Repeat("Your parcel is with the courier. ", 12))
	h.drain()
	msgs = h.sent()[1:]
	if len(msgs) < 3 {
		t.Fatalf("sent %d texts, want the long reply split at one segment each", len(msgs))
	}
	segs := 0
	for _, m := range msgs {
		seg := twiliosms.CountSegments(m.Body)
		segs += seg.Segments
		if seg.Segments != 1 || !strings.HasSuffix(m.Body, ".") {
			t.Errorf("text %q is %d segments or not cut at a sentence end", m.Body, seg.Segments)
		}
	}
	segs++ // the first reply

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if got := counterSum(rm, "smsrelay.sms.segments", attribute.String("encoding", "GSM-7")); got != int64(segs) {
		t.Errorf("smsrelay.sms.segments{encoding=GSM-7} = %d, want %d", got, segs)
	}
	if got := counterSum(rm, "smsrelay.sms.segments", attribute.String("encoding", "UCS-2")); got != 0 {
		t.Errorf("smsrelay.sms.segments{encoding=UCS-2} = %d, want 0", got)
	}
}

func TestCostGuardHoldsAReplyOverTheCapWithANote(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Cost = relay.CostGuard{MaxSegments: 2, HoldOverCap: true}
	})
	h.text(customer, "Hi")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, strings.Repeat("Ваш заказ отправлен. ", 10)) // 210 UCS-2 units: 4 segments
	h.drain()
	h.reply(c.ID, strings.Repeat("Ваш заказ. ", 5)) // 55 units: 1 segment
	h.drain()
	if msgs := h.sent(); len(msgs) != 1 || msgs[0].Body != strings.TrimSpace(strings.Repeat("Ваш заказ. ", 5)) {
		t.Fatalf("sent %+v, want only the short reply", msgs)
	}
	ns := notes(h.conversation(c.ID))
	if len(ns) != 1 || !strings.Contains(ns[0], "4 segments") || !strings.Contains(ns[0], "UCS-2") {
		t.Errorf("notes %q, want one saying the reply was held at 4 UCS-2 segments", ns)
	}
	h.drain() // nothing left to run: the held reply is done with
	if len(h.sent()) != 1 {
		t.Error("the held reply was sent later")
	}
}

func TestCostGuardConfigIsValidated(t *testing.T) {
	t.Parallel()
	for _, g := range []relay.CostGuard{{MaxSegments: -1}, {HoldOverCap: true}} {
		_, err := relay.New(relay.Config{Cost: g})
		if err == nil || !strings.Contains(err.Error(), "Cost.") {
			t.Errorf("New with %+v: %v, want a Cost problem", g, err)
		}
	}
}

// counterSum adds the points of an int64 counter whose attributes include
// attrs.
func counterSum(rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			d, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != name || !ok {
				continue
			}
		next:
			for _, p := range d.DataPoints {
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
