package main

import (
	"strings"
	"testing"
	"time"
)

func TestReadPaging(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	pg, p := readPaging(env(map[string]string{
		"SMSRELAY_AGENT_PHONES": " 991267001=+14155550177, 991267002 = +14155550178 ",
		"SMSRELAY_ONCALL_PHONE": "+14155550188", "SMSRELAY_PAGE_TAG": "p1", "SMSRELAY_PAGE_AFTER": "10m",
		"INTERCOM_WORKSPACE_ID": "abc123de",
	}))
	if len(p) != 0 || len(pg.AgentPhones) != 2 || pg.AgentPhones["991267002"] != "+14155550178" ||
		pg.OnCallPhone != "+14155550188" || pg.Tag != "p1" || pg.After != 10*time.Minute || pg.WorkspaceID != "abc123de" || pg.AckWindow != 0 {
		t.Errorf("readPaging = %+v, %q", pg, p)
	}
	if pg, p := readPaging(env(nil)); len(p) != 0 || pg.AgentPhones != nil || pg.After != 0 {
		t.Errorf("readPaging of nothing = %+v, %q, want paging off", pg, p)
	}
	_, p = readPaging(env(map[string]string{
		"SMSRELAY_AGENT_PHONES": "991267001", "SMSRELAY_PAGE_AFTER": "soon", "SMSRELAY_PAGE_ACK_WINDOW": "-1m",
	}))
	want := []string{"SMSRELAY_AGENT_PHONES", "SMSRELAY_PAGE_AFTER", "SMSRELAY_PAGE_ACK_WINDOW"}
	if len(p) != 3 {
		t.Fatalf("problems %q, want one each for %v", p, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(p[i], w) {
			t.Errorf("problem %q, want one about %s", p[i], w)
		}
	}
}
