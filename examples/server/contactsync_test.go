package main

import (
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/relay"
)

func TestReadContactSync(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cs, p := readContactSync(env(map[string]string{
		"SMSRELAY_OPTOUT_ATTRIBUTE": " sms_opted_out ", "SMSRELAY_OPTOUT_TAG": "SMS opted out",
		"SMSRELAY_LAST_SENT_ATTRIBUTE": "last_sms_sent", "SMSRELAY_LAST_SENT_EVERY": "1h",
	}))
	want := relay.ContactSync{OptOutAttribute: "sms_opted_out", OptOutTag: "SMS opted out", LastSentAttribute: "last_sms_sent", LastSentEvery: time.Hour}
	if len(p) != 0 || cs != want {
		t.Errorf("readContactSync = %+v, %q, want %+v", cs, p, want)
	}
	if cs, p := readContactSync(env(nil)); len(p) != 0 || cs != (relay.ContactSync{}) {
		t.Errorf("readContactSync of nothing = %+v, %q, want all off", cs, p)
	}
	for _, v := range []string{"soon", "0s", "-1m"} {
		_, p := readContactSync(env(map[string]string{"SMSRELAY_LAST_SENT_EVERY": v}))
		if len(p) != 1 || !strings.HasPrefix(p[0], "SMSRELAY_LAST_SENT_EVERY") {
			t.Errorf("SMSRELAY_LAST_SENT_EVERY=%q: problems %q", v, p)
		}
	}
}
