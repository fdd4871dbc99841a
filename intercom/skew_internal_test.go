package intercom

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestUntilResetUsesDate(t *testing.T) {
	server := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) // Intercom's clock
	reset := strconv.FormatInt(server.Add(2*time.Second).Unix(), 10)
	date := server.Format(http.TimeFormat)
	tests := []struct {
		name   string
		header http.Header
		local  time.Time // the client's clock
		want   time.Duration
		ok     bool
	}{
		{"no skew", http.Header{"X-Ratelimit-Reset": {reset}, "Date": {date}}, server, 2 * time.Second, true},
		{"client an hour ahead", http.Header{"X-Ratelimit-Reset": {reset}, "Date": {date}}, server.Add(time.Hour), 2 * time.Second, true},
		{"client an hour behind", http.Header{"X-Ratelimit-Reset": {reset}, "Date": {date}}, server.Add(-time.Hour), 2 * time.Second, true},
		{"no Date: the local clock", http.Header{"X-Ratelimit-Reset": {reset}}, server.Add(-time.Second), 3 * time.Second, true},
		{"bad Date: the local clock", http.Header{"X-Ratelimit-Reset": {reset}, "Date": {"yesterday"}}, server.Add(time.Second), time.Second, true},
		{"reset far off: capped", http.Header{"X-Ratelimit-Reset": {strconv.FormatInt(server.Add(time.Hour).Unix(), 10)}, "Date": {date}}, server, maxHold, true},
		{"reset passed", http.Header{"X-Ratelimit-Reset": {reset}, "Date": {server.Add(5 * time.Second).Format(http.TimeFormat)}}, server, -3 * time.Second, true},
		{"no reset", http.Header{"Date": {date}}, server, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := untilReset(tt.header, tt.local)
			if got != tt.want || ok != tt.ok {
				t.Errorf("untilReset = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRetryAfterDateUsesServerClock(t *testing.T) {
	server := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	h := http.Header{"Retry-After": {server.Add(5 * time.Second).Format(http.TimeFormat)}, "Date": {server.Format(http.TimeFormat)}}
	for _, skew := range []time.Duration{0, time.Hour, -time.Hour} {
		c := &Client{now: func() time.Time { return server.Add(skew) }}
		if got := c.retryAfter(h, false); got != 5*time.Second {
			t.Errorf("skew %v: retryAfter = %v, want 5s", skew, got)
		}
	}
	// 429: X-RateLimit-Reset first, measured the same way.
	h.Set(RateLimitResetHeader, strconv.FormatInt(server.Add(3*time.Second).Unix(), 10))
	c := &Client{now: func() time.Time { return server.Add(time.Hour) }}
	if got := c.retryAfter(h, true); got != 3*time.Second {
		t.Errorf("429 retryAfter = %v, want 3s", got)
	}
}
