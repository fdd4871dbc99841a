package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// readCostGuard reads the cost guard's settings:
//
//	SMSRELAY_TRANSLITERATE   "true": curly quotes, long dashes, ... become GSM-7
//	SMSRELAY_MAX_SEGMENTS    cap on the segments of one text (unset: none)
//	SMSRELAY_HOLD_OVER_CAP   "true": hold a longer reply back with a note instead of splitting it
//
// It returns one line per problem.
func readCostGuard(getenv func(string) string) (relay.CostGuard, []string) {
	var (
		g relay.CostGuard
		p []string
	)
	flag := func(name string) bool {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			p = append(p, fmt.Sprintf("%s %q is not true or false", name, v))
		}
		return b
	}
	g.Transliterate = flag("SMSRELAY_TRANSLITERATE")
	g.HoldOverCap = flag("SMSRELAY_HOLD_OVER_CAP")
	if v := strings.TrimSpace(getenv("SMSRELAY_MAX_SEGMENTS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			p = append(p, fmt.Sprintf("SMSRELAY_MAX_SEGMENTS %q is not a positive whole number", v))
		} else {
			g.MaxSegments = n
		}
	}
	if g.HoldOverCap && g.MaxSegments == 0 {
		p = append(p, "SMSRELAY_HOLD_OVER_CAP needs SMSRELAY_MAX_SEGMENTS")
	}
	return g, p
}

// readWhatsAppTemplate reads SMSRELAY_WHATSAPP_TEMPLATE_SID, the approved
// WhatsApp template ("HX...") sent to re-open the 24-hour window after a
// reply failed outside it. It returns nil when unset, and one line per
// problem.
func readWhatsAppTemplate(getenv func(string) string) (*relay.WhatsAppTemplate, []string) {
	v := strings.TrimSpace(getenv("SMSRELAY_WHATSAPP_TEMPLATE_SID"))
	if v == "" {
		return nil, nil
	}
	if err := twiliosms.ValidContentSID(v); err != nil {
		return nil, []string{"SMSRELAY_WHATSAPP_TEMPLATE_SID: " + err.Error()}
	}
	return &relay.WhatsAppTemplate{ContentSID: v}, nil
}
