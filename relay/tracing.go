package relay

import (
	"context"
	"encoding/json"
	"maps"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/smsrelay/smsrelay/internal/jobs"
	"github.com/smsrelay/smsrelay/store"
)

// Tracing, with Config.TracerProvider: a span for each webhook request, one
// for each run of a job, child of the webhook's span whose request
// enqueued it (its trace context travels in the job's payload), and one
// for each Intercom and Twilio call the job makes. Spans carry names of
// handlers, kinds, endpoints, statuses and ids, never a phone number or a
// message body.

// tracerName names the relay's tracer.
const tracerName = "github.com/smsrelay/smsrelay/relay"

// traceFields are the payload fields that carry a job's trace context.
var traceFields = []string{"traceparent", "tracestate"}

func newTracer(tp trace.TracerProvider) (trace.Tracer, bool) {
	if tp == nil {
		return noop.NewTracerProvider().Tracer(tracerName), false
	}
	return tp.Tracer(tracerName), true
}

// withTrace adds ctx's trace context to a job's JSON payload, when the
// relay traces and ctx has a span. Payloads are read by field name, so the
// added fields are ignored by handlers and by releases that do not trace.
func (r *Relay) withTrace(ctx context.Context, payload []byte) []byte {
	if !r.tracing || !trace.SpanContextFromContext(ctx).IsValid() {
		return payload
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	var obj map[string]json.RawMessage
	if json.Unmarshal(payload, &obj) != nil || obj == nil {
		return payload
	}
	for _, f := range traceFields {
		if v, ok := carrier[f]; ok && v != "" {
			obj[f], _ = json.Marshal(v)
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return payload
	}
	return b
}

// jobTraceContext returns ctx with the trace context a job's payload
// carries, if any.
func jobTraceContext(ctx context.Context, payload []byte) context.Context {
	var obj map[string]json.RawMessage
	if json.Unmarshal(payload, &obj) != nil {
		return ctx
	}
	carrier := propagation.MapCarrier{}
	for _, f := range traceFields {
		var v string
		if raw, ok := obj[f]; ok && json.Unmarshal(raw, &v) == nil {
			carrier[f] = v
		}
	}
	if len(carrier) == 0 {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, carrier)
}

// tracedHandlers runs each job in a span, child of the span that enqueued
// it.
func (r *Relay) tracedHandlers(hs map[string]jobs.Handler) map[string]jobs.Handler {
	if !r.tracing {
		return hs
	}
	out := maps.Clone(hs)
	for kind, h := range hs {
		out[kind] = func(ctx context.Context, job store.Job) error {
			ctx, span := r.tracer.Start(jobTraceContext(ctx, job.Payload), "smsrelay.job "+kind,
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(attribute.String("smsrelay.job.kind", kind),
					attribute.String("smsrelay.job.id", job.ID), attribute.Int("smsrelay.job.attempt", job.Attempt)))
			defer span.End()
			err := h(ctx, job)
			if err != nil {
				span.SetStatus(codes.Error, "job failed")
				span.SetAttributes(attribute.Bool("smsrelay.job.permanent", jobs.IsPermanent(err)))
			}
			return err
		}
	}
	return out
}

// startCall starts the span of one API call.
func startCall(ctx context.Context, tr trace.Tracer, api, endpoint string) (context.Context, trace.Span) {
	if tr == nil {
		// A span that records nothing; never the caller's, which ending
		// would end.
		return ctx, trace.SpanFromContext(context.Background())
	}
	return tr.Start(ctx, api+" "+endpoint, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("smsrelay.api", api), attribute.String("smsrelay.endpoint", endpoint)))
}
