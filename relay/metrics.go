package relay

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// meterName names the relay's instruments' scope.
const meterName = "github.com/smsrelay/smsrelay/relay"

// metrics are the relay's OpenTelemetry instruments. With no MeterProvider
// in the Config they are no-ops.
//
//	smsrelay.webhook.requests  counter    handler, result
//	smsrelay.jobs              counter    kind, outcome (completed, retried, deferred,
//	                                      dead_lettered, dead_letter_failed, lease_lost, interrupted)
//	smsrelay.job.duration      histogram  kind (seconds)
//	smsrelay.sms.sent          counter    texts the relay sent (agents' replies, texts sent first)
//	smsrelay.sms.withheld      counter    reason (opted_out, refused, over_segment_cap, ...)
//	smsrelay.sms.segments      counter    encoding (GSM-7, UCS-2): SMS segments of the texts sent
//	smsrelay.queue.jobs        gauge      state (ready, leased, dead)
//	smsrelay.intercom.requests counter    endpoint, status (HTTP status, "error" or "not_sent")
//	smsrelay.intercom.rate_limited counter endpoint (Intercom's 429 answers)
//	smsrelay.intercom.budget_wait histogram seconds a call waited for the budget
//	smsrelay.sms.send_failures counter    code (Twilio error code, 0 for none), stage (send, status)
//	smsrelay.queue.oldest_ready_age gauge kind (seconds since the oldest ready job was enqueued;
//	                                      when the queue implements store.QueueInspector)
//	smsrelay.identity          counter    outcome (asked, not_sent, merged, linked, no_user,
//	                                      no_email, opted): the identity bridge (identity.go)
type metrics struct {
	webhooks    metric.Int64Counter
	jobs        metric.Int64Counter
	jobDuration metric.Float64Histogram
	smsSent     metric.Int64Counter
	smsWithheld metric.Int64Counter
	smsSegments metric.Int64Counter
	gauge       metric.Registration // the queue gauge's callback

	icRequests   metric.Int64Counter
	icLimited    metric.Int64Counter
	budgetWait   metric.Float64Histogram
	sendFailures metric.Int64Counter
	ageReg       metric.Registration // the queue age gauge's callback

	identity metric.Int64Counter
}

// Values of the result attribute of smsrelay.webhook.requests.
const (
	resultAccepted  = "accepted"  // enqueued
	resultDuplicate = "duplicate" // seen before, acknowledged
	resultIgnored   = "ignored"   // verified, nothing to do
	resultRejected  = "rejected"  // bad method, type, size or signature
	resultError     = "error"     // the store failed; the sender retries
)

func newMetrics(mp metric.MeterProvider, q interface {
	statsForMetrics(context.Context) (ready, leased, dead int64, err error)
}) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter(meterName)
	var (
		out metrics
		err error
	)
	if out.webhooks, err = m.Int64Counter("smsrelay.webhook.requests",
		metric.WithDescription("Webhook requests by handler and result.")); err != nil {
		return nil, err
	}
	if out.jobs, err = m.Int64Counter("smsrelay.jobs",
		metric.WithDescription("Jobs run, by kind and outcome.")); err != nil {
		return nil, err
	}
	if out.jobDuration, err = m.Float64Histogram("smsrelay.job.duration", metric.WithUnit("s"),
		metric.WithDescription("Time a job took to run, by kind.")); err != nil {
		return nil, err
	}
	if out.smsSent, err = m.Int64Counter("smsrelay.sms.sent",
		metric.WithDescription("Texts Twilio accepted from the relay: agents' replies and texts sent first.")); err != nil {
		return nil, err
	}
	if out.smsWithheld, err = m.Int64Counter("smsrelay.sms.withheld",
		metric.WithDescription("Agent replies that did not go out by SMS, by reason.")); err != nil {
		return nil, err
	}
	if out.icRequests, err = m.Int64Counter("smsrelay.intercom.requests",
		metric.WithDescription("Intercom API calls, by endpoint and HTTP status.")); err != nil {
		return nil, err
	}
	if out.icLimited, err = m.Int64Counter("smsrelay.intercom.rate_limited",
		metric.WithDescription("Intercom answers of 429 Too Many Requests, by endpoint.")); err != nil {
		return nil, err
	}
	if out.budgetWait, err = m.Float64Histogram("smsrelay.intercom.budget_wait", metric.WithUnit("s"),
		metric.WithDescription("Time an Intercom call waited for the relay's budget.")); err != nil {
		return nil, err
	}
	if out.sendFailures, err = m.Int64Counter("smsrelay.sms.send_failures",
		metric.WithDescription("Texts Twilio refused (stage send) or reported failed or undelivered (stage status), by Twilio error code.")); err != nil {
		return nil, err
	}
	if out.identity, err = m.Int64Counter("smsrelay.identity",
		metric.WithDescription("Steps of the identity bridge, by outcome: prompts sent (asked) or refused (not_sent), and answers by what they led to.")); err != nil {
		return nil, err
	}
	if out.smsSegments, err = m.Int64Counter("smsrelay.sms.segments",
		metric.WithDescription("SMS segments of the texts Twilio accepted from the relay, by encoding, as the relay counted them before sending.")); err != nil {
		return nil, err
	}
	gauge, err := m.Int64ObservableGauge("smsrelay.queue.jobs",
		metric.WithDescription("Jobs in the queue, by state."))
	if err != nil {
		return nil, err
	}
	out.gauge, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ready, leased, dead, err := q.statsForMetrics(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(gauge, ready, metric.WithAttributes(attribute.String("state", "ready")))
		o.ObserveInt64(gauge, leased, metric.WithAttributes(attribute.String("state", "leased")))
		o.ObserveInt64(gauge, dead, metric.WithAttributes(attribute.String("state", "dead")))
		return nil
	}, gauge)
	if err != nil {
		return nil, err
	}
	if ks, ok := q.(interface {
		kindStatsForMetrics(context.Context) ([]store.KindStats, bool, error)
	}); ok {
		age, err := m.Float64ObservableGauge("smsrelay.queue.oldest_ready_age", metric.WithUnit("s"),
			metric.WithDescription("Age of the oldest ready job, by kind."))
		if err != nil {
			return nil, err
		}
		out.ageReg, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			stats, can, err := ks.kindStatsForMetrics(ctx)
			if !can || err != nil {
				return err
			}
			// Every kind has a series, 0 when none of its jobs is ready.
			ages := map[string]float64{}
			for _, k := range Kinds() {
				ages[k] = 0
			}
			now := time.Now()
			for _, k := range stats {
				if !k.OldestReady.IsZero() {
					ages[k.Kind] = max(now.Sub(k.OldestReady).Seconds(), 0)
				}
			}
			for k, a := range ages {
				o.ObserveFloat64(age, a, metric.WithAttributes(attribute.String("kind", k)))
			}
			return nil
		}, age)
		if err != nil {
			return nil, err
		}
	}
	return &out, nil
}

func (r *Relay) kindStatsForMetrics(ctx context.Context) ([]store.KindStats, bool, error) {
	if r.insp == nil {
		return nil, false, nil
	}
	ks, err := r.insp.KindStats(ctx)
	return ks, true, err
}

func (r *Relay) statsForMetrics(ctx context.Context) (ready, leased, dead int64, err error) {
	s, err := r.q.Stats(ctx)
	return int64(s.Ready), int64(s.Leased), int64(s.Dead), err
}

func (m *metrics) webhook(ctx context.Context, handler, result string) {
	m.webhooks.Add(ctx, 1, metric.WithAttributes(attribute.String("handler", handler), attribute.String("result", result)))
}

func (m *metrics) job(ctx context.Context, kind, outcome string, took time.Duration) {
	m.jobs.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind), attribute.String("outcome", outcome)))
	m.jobDuration.Record(ctx, took.Seconds(), metric.WithAttributes(attribute.String("kind", kind)))
}

// segments counts the segments of a text Twilio accepted: SMS only, since
// WhatsApp messages are not billed by segment.
func (m *metrics) segments(ctx context.Context, to string, cost twiliosms.Segments) {
	if twiliosms.IsWhatsApp(to) || cost.Segments == 0 {
		return
	}
	m.smsSegments.Add(ctx, int64(cost.Segments), metric.WithAttributes(attribute.String("encoding", string(cost.Encoding))))
}

func (m *metrics) withheld(ctx context.Context, reason string) {
	m.smsWithheld.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

func (m *metrics) sendFailure(ctx context.Context, code int, stage string) {
	m.sendFailures.Add(ctx, 1, metric.WithAttributes(attribute.Int("code", code), attribute.String("stage", stage)))
}
