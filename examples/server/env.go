package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/relay"
)

// options are the relay's and the stores' settings beyond the required
// ones, read from the environment. Zero values leave the library's
// defaults.
type options struct {
	routes       map[string]relay.Route
	defaultRoute relay.Route
	reopen       bool
	idleTimeout  time.Duration
	region       string
	workers      int
	maxAttempts  int
	lease        time.Duration
	retryBase    time.Duration
	retryMax     time.Duration
	drainTimeout time.Duration
	pgSchema     string
	redisPrefix  string
	logLevel     slog.Level
	logJSON      bool
}

// routeJSON is a relay.Route as SMSRELAY_ROUTES and SMSRELAY_DEFAULT_ROUTE
// spell it.
type routeJSON struct {
	TeamID  string   `json:"team_id"`
	AdminID string   `json:"admin_id"`
	TagIDs  []string `json:"tag_ids"`
}

func (r routeJSON) route() relay.Route {
	return relay.Route{TeamID: r.TeamID, AdminID: r.AdminID, TagIDs: r.TagIDs}
}

// readOptions reads the optional settings, adding one line to p per
// problem.
func readOptions(get func(name, def string) string, p *problems) options {
	var o options
	bad := func(name, v, want string) { *p = append(*p, fmt.Sprintf("%s %q is not %s", name, v, want)) }
	duration := func(name string, positive bool) time.Duration {
		v := get(name, "")
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || (positive && d == 0) {
			bad(name, v, "a positive duration such as 30s or 2m")
			return 0
		}
		return d
	}
	count := func(name string) int {
		v := get(name, "")
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			bad(name, v, "a positive whole number")
			return 0
		}
		return n
	}
	if v := get("SMSRELAY_ROUTES", ""); v != "" {
		var m map[string]routeJSON
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			*p = append(*p, fmt.Sprintf(`SMSRELAY_ROUTES is not JSON such as {"+14155550100": {"team_id": "123", "admin_id": "", "tag_ids": ["9"]}}: %v`, err))
		} else {
			o.routes = map[string]relay.Route{}
			for num, r := range m {
				o.routes[num] = r.route()
			}
		}
	}
	if v := get("SMSRELAY_DEFAULT_ROUTE", ""); v != "" {
		var r routeJSON
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			*p = append(*p, fmt.Sprintf(`SMSRELAY_DEFAULT_ROUTE is not JSON such as {"team_id": "123"}: %v`, err))
		} else {
			o.defaultRoute = r.route()
		}
	}
	if v := get("SMSRELAY_REOPEN", ""); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("SMSRELAY_REOPEN", v, "true or false")
		}
		o.reopen = b
	}
	o.idleTimeout = duration("SMSRELAY_IDLE_TIMEOUT", true)
	o.region = strings.ToUpper(get("SMSRELAY_DEFAULT_REGION", ""))
	if o.region != "" && (len(o.region) != 2 || strings.Trim(o.region, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
		bad("SMSRELAY_DEFAULT_REGION", o.region, "a two-letter ISO 3166 region such as US")
	}
	o.workers = count("SMSRELAY_WORKERS")
	o.maxAttempts = count("SMSRELAY_MAX_ATTEMPTS")
	o.lease = duration("SMSRELAY_LEASE", true)
	o.retryBase = duration("SMSRELAY_RETRY_BASE", true)
	o.retryMax = duration("SMSRELAY_RETRY_MAX", true)
	o.drainTimeout = duration("SMSRELAY_DRAIN_TIMEOUT", true)
	o.pgSchema = get("SMSRELAY_PG_SCHEMA", "")
	o.redisPrefix = get("SMSRELAY_REDIS_PREFIX", "")
	if v := get("SMSRELAY_LOG_LEVEL", "info"); o.logLevel.UnmarshalText([]byte(v)) != nil {
		bad("SMSRELAY_LOG_LEVEL", v, "debug, info, warn or error")
	}
	switch v := get("SMSRELAY_LOG_FORMAT", "text"); v {
	case "text":
	case "json":
		o.logJSON = true
	default:
		bad("SMSRELAY_LOG_FORMAT", v, "text or json")
	}
	return o
}

// apply puts the options into cfg.
func (o options) apply(cfg *relay.Config) {
	cfg.Routes, cfg.DefaultRoute = o.routes, o.defaultRoute
	cfg.Reopen, cfg.IdleTimeout, cfg.DefaultRegion = o.reopen, o.idleTimeout, o.region
	cfg.Workers, cfg.MaxAttempts, cfg.Lease = o.workers, o.maxAttempts, o.lease
	cfg.RetryBase, cfg.RetryMax, cfg.DrainTimeout = o.retryBase, o.retryMax, o.drainTimeout
}

// list splits a comma-separated list, dropping empty items.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// loggerFromEnv builds the log the environment asks for; a setting it
// cannot read leaves the default, and readSettings reports it.
func loggerFromEnv(getenv func(string) string) *slog.Logger {
	var p problems
	o := readOptions(func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}, &p)
	hopts := &slog.HandlerOptions{Level: o.logLevel}
	if o.logJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, hopts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, hopts))
}

// checkStoreURL says what is wrong with SMSRELAY_STORE_URL, naming the
// likely mistake: a known scheme with a slash missing is not an unknown
// scheme.
func checkStoreURL(v string) error {
	scheme, rest, ok := strings.Cut(v, ":")
	switch scheme {
	case "mem", "postgres", "postgresql", "redis", "rediss":
		if !ok || !strings.HasPrefix(rest, "//") {
			return fmt.Errorf("%q must start with %s:// (a slash is missing)", redactURL(v), scheme)
		}
		return nil
	}
	return fmt.Errorf("%q: scheme must be mem, postgres or redis", redactURL(v))
}

// redactURL hides the password of a store URL.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return v
	}
	return u.Redacted()
}

// isTimeoutOrEOF reports what a TLS client sees of a server that does not
// speak TLS: a handshake that times out or is cut off.
func isTimeoutOrEOF(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(err.Error(), "tls:")
}
