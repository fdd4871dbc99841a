package main

import (
	"strings"
	"testing"
	"time"
)

func TestReadIdentity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		on      bool
		problem string
		check   func(t *testing.T, prompt string, period time.Duration, skip bool, ws string)
	}{
		{name: "off"},
		{name: "on", env: map[string]string{"SMSRELAY_IDENTITY": "true"}, on: true,
			check: func(t *testing.T, prompt string, period time.Duration, skip bool, ws string) {
				if prompt != "" || period != 0 || skip || ws != "" {
					t.Errorf("defaults: %q %v %v %q", prompt, period, skip, ws)
				}
			}},
		{name: "all", env: map[string]string{"SMSRELAY_IDENTITY": "true", "SMSRELAY_IDENTITY_PROMPT": " Email? ",
			"SMSRELAY_IDENTITY_PERIOD": "48h", "SMSRELAY_IDENTITY_SKIP_DUPLICATE_VALIDATION": "true", "INTERCOM_WORKSPACE_ID": "ws1"}, on: true,
			check: func(t *testing.T, prompt string, period time.Duration, skip bool, ws string) {
				if prompt != "Email?" || period != 48*time.Hour || !skip || ws != "ws1" {
					t.Errorf("settings: %q %v %v %q", prompt, period, skip, ws)
				}
			}},
		{name: "bad flag", env: map[string]string{"SMSRELAY_IDENTITY": "yes"}, problem: "SMSRELAY_IDENTITY \"yes\""},
		{name: "bad period", env: map[string]string{"SMSRELAY_IDENTITY": "true", "SMSRELAY_IDENTITY_PERIOD": "a month"}, on: true, problem: "SMSRELAY_IDENTITY_PERIOD"},
		{name: "settings without the bridge", env: map[string]string{"SMSRELAY_IDENTITY_PROMPT": "Email?"}, problem: "SMSRELAY_IDENTITY is not true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, p := readIdentity(func(k string) string { return tc.env[k] })
			if (b != nil) != tc.on {
				t.Fatalf("bridge = %+v, want on = %v", b, tc.on)
			}
			if got := strings.Join(p, "; "); tc.problem == "" && got != "" || tc.problem != "" && !strings.Contains(got, tc.problem) {
				t.Errorf("problems = %q, want %q", got, tc.problem)
			}
			if tc.check != nil && b != nil {
				tc.check(t, b.Prompt, b.Period, b.SkipDuplicateValidation, b.WorkspaceID)
			}
		})
	}
}
