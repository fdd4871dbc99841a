package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/relay"
)

// readContactSync reads what the relay mirrors onto Intercom contacts
// (relay.ContactSync); each part is off while its variable is unset:
//
//	SMSRELAY_OPTOUT_ATTRIBUTE     boolean contact data attribute set on opt-out/opt-in, e.g. sms_opted_out
//	SMSRELAY_OPTOUT_TAG           tag applied on opt-out and removed on opt-in, e.g. "SMS opted out"
//	SMSRELAY_LAST_SENT_ATTRIBUTE  date contact data attribute set to the last text's time, e.g. last_sms_sent
//	SMSRELAY_LAST_SENT_EVERY      a Go duration: at most one last-sent update per customer per period (default 1m)
//
// The attributes must exist in the Intercom workspace (Settings > Data >
// People). Names are checked by relay.New. It returns one line per
// problem.
func readContactSync(getenv func(string) string) (relay.ContactSync, []string) {
	var p []string
	cs := relay.ContactSync{
		OptOutAttribute:   strings.TrimSpace(getenv("SMSRELAY_OPTOUT_ATTRIBUTE")),
		OptOutTag:         strings.TrimSpace(getenv("SMSRELAY_OPTOUT_TAG")),
		LastSentAttribute: strings.TrimSpace(getenv("SMSRELAY_LAST_SENT_ATTRIBUTE")),
	}
	if v := strings.TrimSpace(getenv("SMSRELAY_LAST_SENT_EVERY")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			p = append(p, fmt.Sprintf("SMSRELAY_LAST_SENT_EVERY %q is not a positive Go duration (such as 1m or 1h)", v))
		} else {
			cs.LastSentEvery = d
		}
	}
	return cs, p
}
