package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/relay"
)

// readIdentity reads the identity bridge's settings (relay.IdentityBridge):
//
//	SMSRELAY_IDENTITY                          "true": ask unknown numbers for their email
//	SMSRELAY_IDENTITY_PROMPT                   the question (default relay.DefaultIdentityPrompt)
//	SMSRELAY_IDENTITY_PERIOD                   a Go duration: one prompt per number per period (default 720h)
//	SMSRELAY_IDENTITY_SKIP_DUPLICATE_VALIDATION "true": merge on the typed address alone (see the README)
//	INTERCOM_WORKSPACE_ID                      optional: notes link to the user's profile
//
// It returns nil when the bridge is off, and one line per problem; the
// prompt's length and the period's bounds are checked by relay.New.
func readIdentity(getenv func(string) string) (*relay.IdentityBridge, []string) {
	var p []string
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	flag := func(name string) bool {
		switch v := get(name); v {
		case "", "false":
			return false
		case "true":
			return true
		default:
			p = append(p, fmt.Sprintf("%s %q is not true or false", name, v))
			return false
		}
	}
	on := flag("SMSRELAY_IDENTITY")
	skip := flag("SMSRELAY_IDENTITY_SKIP_DUPLICATE_VALIDATION")
	prompt := get("SMSRELAY_IDENTITY_PROMPT")
	period := get("SMSRELAY_IDENTITY_PERIOD")
	if !on {
		if prompt != "" || period != "" || skip {
			p = append(p, "SMSRELAY_IDENTITY_* is set but SMSRELAY_IDENTITY is not true")
		}
		return nil, p
	}
	b := &relay.IdentityBridge{Prompt: prompt, SkipDuplicateValidation: skip, WorkspaceID: get("INTERCOM_WORKSPACE_ID")}
	if period != "" {
		d, err := time.ParseDuration(period)
		if err != nil || d <= 0 {
			p = append(p, fmt.Sprintf("SMSRELAY_IDENTITY_PERIOD %q is not a positive Go duration (such as 720h)", period))
		}
		b.Period = d
	}
	return b, p
}
