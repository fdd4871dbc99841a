package main

import (
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/relay"
)

func TestReadCostGuard(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	g, p := readCostGuard(env(map[string]string{
		"SMSRELAY_TRANSLITERATE": "true", "SMSRELAY_MAX_SEGMENTS": "3", "SMSRELAY_HOLD_OVER_CAP": "1",
	}))
	if len(p) != 0 || g != (relay.CostGuard{Transliterate: true, MaxSegments: 3, HoldOverCap: true}) {
		t.Errorf("readCostGuard = %+v, %q", g, p)
	}
	if g, p := readCostGuard(env(nil)); len(p) != 0 || g != (relay.CostGuard{}) {
		t.Errorf("readCostGuard of nothing = %+v, %q, want the zero guard", g, p)
	}
	_, p = readCostGuard(env(map[string]string{
		"SMSRELAY_TRANSLITERATE": "maybe", "SMSRELAY_MAX_SEGMENTS": "0", "SMSRELAY_HOLD_OVER_CAP": "yes",
	}))
	want := []string{"SMSRELAY_TRANSLITERATE", "SMSRELAY_HOLD_OVER_CAP", "SMSRELAY_MAX_SEGMENTS"}
	if len(p) != 3 {
		t.Fatalf("problems %q, want one each for %v", p, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(p[i], w) {
			t.Errorf("problem %q, want one about %s", p[i], w)
		}
	}
}

func TestReadWhatsAppTemplate(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "SMSRELAY_WHATSAPP_TEMPLATE_SID" {
				return v
			}
			return ""
		}
	}
	if tpl, p := readWhatsAppTemplate(env("")); tpl != nil || p != nil {
		t.Errorf("unset: %+v %q", tpl, p)
	}
	if tpl, p := readWhatsAppTemplate(env("HX0123456789abcdef0123456789abcdef")); tpl == nil || tpl.ContentSID != "HX0123456789abcdef0123456789abcdef" || p != nil {
		t.Errorf("set: %+v %q", tpl, p)
	}
	if _, p := readWhatsAppTemplate(env("HX1")); len(p) != 1 || !strings.HasPrefix(p[0], "SMSRELAY_WHATSAPP_TEMPLATE_SID") {
		t.Errorf("malformed: %q", p)
	}
}
