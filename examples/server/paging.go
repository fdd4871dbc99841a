package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/relay"
)

// readPaging reads agent paging's settings (relay.Paging):
//
//	SMSRELAY_AGENT_PHONES    "<admin id>=+1…,<admin id>=+1…": admins' mobiles (paging is on when set)
//	SMSRELAY_ONCALL_PHONE    paged about conversations assigned to nobody with a phone
//	SMSRELAY_PAGE_TAG        the tag that pages (default urgent)
//	SMSRELAY_PAGE_AFTER      a Go duration: page when a text waits this long (unset: off)
//	SMSRELAY_PAGE_ACK_WINDOW a Go duration: how long a text back acknowledges (default 30m)
//	INTERCOM_WORKSPACE_ID    the workspace id, for links to the inbox (required with paging)
//
// The phones' form is checked by relay.New. It returns one line per
// problem.
func readPaging(getenv func(string) string) (relay.Paging, []string) {
	var (
		pg relay.Paging
		p  []string
	)
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	if v := get("SMSRELAY_AGENT_PHONES"); v != "" {
		pg.AgentPhones = map[string]string{}
		for _, pair := range strings.Split(v, ",") {
			id, phone, ok := strings.Cut(strings.TrimSpace(pair), "=")
			id, phone = strings.TrimSpace(id), strings.TrimSpace(phone)
			if !ok || id == "" || phone == "" {
				p = append(p, fmt.Sprintf("SMSRELAY_AGENT_PHONES: %q is not <admin id>=<phone>", pair))
				continue
			}
			if _, dup := pg.AgentPhones[id]; dup {
				p = append(p, fmt.Sprintf("SMSRELAY_AGENT_PHONES: admin %s is listed twice", id))
			}
			pg.AgentPhones[id] = phone
		}
	}
	pg.OnCallPhone = get("SMSRELAY_ONCALL_PHONE")
	pg.Tag = get("SMSRELAY_PAGE_TAG")
	pg.WorkspaceID = get("INTERCOM_WORKSPACE_ID")
	duration := func(name string) time.Duration {
		v := get(name)
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			p = append(p, fmt.Sprintf("%s %q is not a positive Go duration (such as 10m)", name, v))
		}
		return d
	}
	pg.After = duration("SMSRELAY_PAGE_AFTER")
	pg.AckWindow = duration("SMSRELAY_PAGE_ACK_WINDOW")
	return pg, p
}
