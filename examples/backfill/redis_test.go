package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/store/redisstore"
)

// TestEnvironmentRunOnRedisResumesAcrossProcesses runs the command as an
// operator would, configured from the environment, against the fakes
// (TWILIO_BASE_URL, INTERCOM_BASE_URL) and a Redis store: the first run
// imports the account, a second run (another process, the same store)
// imports nothing.
func TestEnvironmentRunOnRedisResumesAcrossProcesses(t *testing.T) {
	redisURL := os.Getenv("SMSRELAY_TEST_REDIS_URL")
	if redisURL == "" {
		t.Skip("SMSRELAY_TEST_REDIS_URL is not set")
	}
	d, err := newDemo(40, 2000)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "bftest-" + hex.EncodeToString(b) + ":"
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := client.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	env := d.Env()
	maps.Copy(env, map[string]string{
		"SMSRELAY_STORE_URL":    redisURL,
		"SMSRELAY_REDIS_PREFIX": prefix,
		"INTERCOM_ADMIN_ID":     demoNoteBy,
		"INTERCOM_RATE_LIMIT":   "2000",
		"SMSRELAY_AGENT_PHONES": demoAgent + "=" + demoAgentPh,
		"INTERCOM_WORKSPACE_ID": demoWorkspce,
	})
	getenv := func(k string) string { return env[k] }
	args := []string{"-since", "2026-11-01", "-until", "2026-11-17", "-workers"}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, getenv, &out, &errOut, false); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "Imported 40 texts") {
		t.Fatalf("first run:\n%s", out.String())
	}
	st, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.check(context.Background(), st); err != nil || n != 40 {
		t.Fatalf("Intercom after the first run: %d texts, %v", n, err)
	}
	out.Reset()
	if err := run(context.Background(), args, getenv, &out, &errOut, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Imported 0 texts") || !strings.Contains(out.String(), "already in Intercom 40") {
		t.Fatalf("second run:\n%s", out.String())
	}
	if n, err := d.check(context.Background(), st); err != nil || n != 40 {
		t.Fatalf("Intercom after the second run: %d texts, %v", n, err)
	}
}
