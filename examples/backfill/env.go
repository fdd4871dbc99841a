package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/pgstore"
	"github.com/smsrelay/smsrelay/store/redisstore"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// placeholderURL and placeholderSecret fill the relay settings the
// command never uses (it serves no webhooks and sends no text), when the
// environment does not set them.
const (
	placeholderURL    = "https://backfill.invalid"
	placeholderSecret = "unused-by-the-backfill-command"
)

// fromEnv builds the relay's configuration from the environment, as
// examples/server reads it, and opens the store. It returns a closer and
// the Intercom budget per 10 seconds.
func fromEnv(ctx context.Context, getenv func(string) string) (relay.Config, func(), int, error) {
	var p []string
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	need := func(name string) string {
		v := get(name)
		if v == "" {
			p = append(p, name+" is required")
		}
		return v
	}
	storeURL := need("SMSRELAY_STORE_URL")
	icToken, icAdmin := need("INTERCOM_ACCESS_TOKEN"), need("INTERCOM_ADMIN_ID")
	twSID, twTokens := need("TWILIO_ACCOUNT_SID"), split(need("TWILIO_AUTH_TOKEN"))
	icBase, twBase := get("INTERCOM_BASE_URL"), get("TWILIO_BASE_URL")
	if icBase == "" {
		icBase = intercom.USBaseURL
	}
	rate := 83
	if v := get("INTERCOM_RATE_LIMIT"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n <= 0 {
			p = append(p, fmt.Sprintf("INTERCOM_RATE_LIMIT %q is not a positive whole number", v))
		} else {
			rate = n
		}
	}
	if scheme, _, _ := strings.Cut(storeURL, "://"); storeURL != "" && scheme != "postgres" && scheme != "postgresql" && scheme != "redis" && scheme != "rediss" {
		p = append(p, "SMSRELAY_STORE_URL must be the relay's postgres:// or redis:// store: a backfill records what it imported there, and reads what the relay carried")
	}
	for _, v := range []struct{ name, url string }{{"INTERCOM_BASE_URL", icBase}, {"TWILIO_BASE_URL", twBase}} {
		if v.url == "" {
			continue
		}
		if u, err := url.Parse(v.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p = append(p, fmt.Sprintf("%s %q is not an http(s) URL", v.name, v.url))
		}
	}
	cfg := relay.Config{
		NoteAuthor:          icAdmin,
		PublicURL:           get("SMSRELAY_PUBLIC_URL"),
		WebhookSecrets:      split(get("INTERCOM_CLIENT_SECRET")),
		TwilioAuthTokens:    twTokens,
		MessagingServiceSID: get("TWILIO_MESSAGING_SERVICE_SID"),
		DefaultRegion:       strings.ToUpper(get("SMSRELAY_DEFAULT_REGION")),
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = placeholderURL
	}
	if len(cfg.WebhookSecrets) == 0 {
		cfg.WebhookSecrets = []string{placeholderSecret}
	}
	p = append(p, readRouting(get, &cfg)...)
	if len(p) > 0 {
		return cfg, nil, 0, errors.New("cannot start:\n  " + strings.Join(p, "\n  "))
	}

	var (
		budget  relay.Limiter
		closeFn func()
	)
	switch scheme, _, _ := strings.Cut(storeURL, "://"); scheme {
	case "postgres", "postgresql":
		pool, err := pgxpool.New(ctx, storeURL)
		if err != nil {
			return cfg, nil, 0, fmt.Errorf("SMSRELAY_STORE_URL: %w", err)
		}
		var opts []pgstore.Option
		if s := get("SMSRELAY_PG_SCHEMA"); s != "" {
			opts = append(opts, pgstore.WithSchema(s))
		}
		if err := pgstore.Migrate(ctx, pool, opts...); err != nil {
			pool.Close()
			return cfg, nil, 0, fmt.Errorf("PostgreSQL: %w", err)
		}
		st, err := pgstore.New(pool, opts...)
		if err != nil {
			pool.Close()
			return cfg, nil, 0, err
		}
		lim, err := pgstore.NewLimiter(pool, rate, 10*time.Second)
		if err != nil {
			pool.Close()
			return cfg, nil, 0, err
		}
		cfg.Store, budget, closeFn = st, lim, pool.Close
	default:
		opt, err := redis.ParseURL(storeURL)
		if err != nil {
			return cfg, nil, 0, fmt.Errorf("SMSRELAY_STORE_URL: %w", err)
		}
		client := redis.NewClient(opt)
		var opts []redisstore.Option
		if s := get("SMSRELAY_REDIS_PREFIX"); s != "" {
			opts = append(opts, redisstore.WithPrefix(s))
		}
		st, err := redisstore.New(client, opts...)
		if err != nil {
			client.Close()
			return cfg, nil, 0, err
		}
		lim, err := redisstore.NewLimiter(client, rate, 10*time.Second)
		if err != nil {
			client.Close()
			return cfg, nil, 0, err
		}
		cfg.Store, budget, closeFn = st, lim, func() { client.Close() }
	}
	ic, err := intercom.NewClient(icToken, intercom.WithBaseURL(icBase), intercom.WithLimiter(budget))
	if err != nil {
		closeFn()
		return cfg, nil, 0, err
	}
	var twOpts []twiliosms.Option
	if twBase != "" {
		twOpts = append(twOpts, twiliosms.WithBaseURL(twBase))
	}
	tw, err := twiliosms.NewClient(twSID, twTokens[0], twOpts...)
	if err != nil {
		closeFn()
		return cfg, nil, 0, err
	}
	cfg.Intercom, cfg.Twilio, cfg.Limiter = ic, tw, budget
	return cfg, closeFn, rate, nil
}

// routeJSON is a relay.Route as SMSRELAY_ROUTES spells it.
type routeJSON struct {
	TeamID  string   `json:"team_id"`
	AdminID string   `json:"admin_id"`
	TagIDs  []string `json:"tag_ids"`
}

// readRouting reads what decides where an imported conversation goes:
// routes, re-opening, agents' phones.
func readRouting(get func(string) string, cfg *relay.Config) []string {
	var p []string
	decode := func(name string, v any) {
		if s := get(name); s != "" {
			dec := json.NewDecoder(strings.NewReader(s))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				p = append(p, fmt.Sprintf("%s is not JSON as examples/server reads it: %v", name, err))
			}
		}
	}
	var routes map[string]routeJSON
	var def routeJSON
	decode("SMSRELAY_ROUTES", &routes)
	decode("SMSRELAY_DEFAULT_ROUTE", &def)
	if len(routes) > 0 {
		cfg.Routes = map[string]relay.Route{}
		for n, r := range routes {
			cfg.Routes[n] = relay.Route{TeamID: r.TeamID, AdminID: r.AdminID, TagIDs: r.TagIDs}
		}
	}
	cfg.DefaultRoute = relay.Route{TeamID: def.TeamID, AdminID: def.AdminID, TagIDs: def.TagIDs}
	if v := get("SMSRELAY_REOPEN"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			p = append(p, fmt.Sprintf("SMSRELAY_REOPEN %q is not true or false", v))
		}
		cfg.Reopen = b
	}
	if v := get("SMSRELAY_AGENT_PHONES"); v != "" {
		cfg.Paging.AgentPhones = map[string]string{}
		for _, pair := range strings.Split(v, ",") {
			id, phone, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || strings.TrimSpace(id) == "" || strings.TrimSpace(phone) == "" {
				p = append(p, fmt.Sprintf("SMSRELAY_AGENT_PHONES: %q is not <admin id>=<phone>", pair))
				continue
			}
			cfg.Paging.AgentPhones[strings.TrimSpace(id)] = strings.TrimSpace(phone)
		}
		cfg.Paging.WorkspaceID = get("INTERCOM_WORKSPACE_ID")
	}
	return p
}
