package demo_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/smsrelay/smsrelay/examples/internal/demo"
	"github.com/smsrelay/smsrelay/relay"
)

// A text posted to the host reaches the fake Intercom, and what the host
// mounts besides the relay's handlers is served.
func TestServeRelaysAText(t *testing.T) {
	fakes, err := demo.Start(demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fakes.Close()
	cfg := fakes.Config()
	cfg.NoteAuthor = "991267999"
	host, err := fakes.Serve(t.Context(), cfg, func(mux *http.ServeMux, _ *relay.Relay) {
		mux.HandleFunc("GET /extra", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if err := host.Text(t.Context(), "+14155550123", "+14155550100", "Hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.WaitFor(func() (int, bool) { n := len(fakes.IC.Conversations()); return n, n == 1 }); err != nil {
		t.Fatalf("no conversation: %v", err)
	}
	resp, err := http.Get(host.URL + "/extra")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Errorf("GET /extra = %d, want what mount added", resp.StatusCode)
	}
	dead, err := host.Stop(context.Background())
	if err != nil || demo.Failed(dead) != nil {
		t.Fatalf("Stop: %v, %v", err, demo.Failed(dead))
	}
}

func TestEnvPointsAtTheFakes(t *testing.T) {
	fakes, err := demo.Start(demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fakes.Close()
	env := fakes.Env()
	for k, want := range map[string]string{
		"INTERCOM_BASE_URL": fakes.IC.URL, "INTERCOM_ACCESS_TOKEN": fakes.IC.Token, "INTERCOM_CLIENT_SECRET": fakes.IC.ClientSecret,
		"TWILIO_BASE_URL": fakes.TW.URL, "TWILIO_ACCOUNT_SID": fakes.TW.AccountSID, "TWILIO_AUTH_TOKEN": fakes.TW.AuthToken,
	} {
		if env[k] != want || want == "" {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
}
