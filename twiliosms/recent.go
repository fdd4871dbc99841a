package twiliosms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// Record is a message as Twilio's message list shows it.
type Record struct {
	SID         string
	From        string
	To          string
	Body        string
	Status      string
	Direction   string // "outbound-api" for messages created through the API
	DateCreated time.Time
}

// recentPage is how many messages Recent reads: one page.
const recentPage = 50

// Recent lists the latest messages (one page of at most 50, newest first)
// to the address to that Twilio created at or after since (GET
// /2010-04-01/Accounts/{AccountSid}/Messages.json?To=...). It is how a
// caller whose Send got no answer (a timeout, a dropped connection) finds
// out whether Twilio created the message anyway, before sending it again.
// Twilio keeps creation times to the second, so since is rounded down to
// one. Errors are classified and masked as those of [Client.Send]: they
// never show the recipient whole.
func (c *Client) Recent(ctx context.Context, to string, since time.Time) ([]Record, error) {
	if ctx == nil {
		return nil, errors.New("twiliosms: Recent: nil context")
	}
	if strings.TrimSpace(to) == "" {
		return nil, errors.New("twiliosms: Recent: empty recipient")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("twiliosms: Recent not started: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	api, tr := c.api(ctx)
	params := (&openapi.ListMessageParams{}).SetTo(to).SetPageSize(recentPage)
	page, err := api.PageMessage(params, "", "")
	if err != nil {
		return nil, c.callError(ctx, tr, "listing messages", err)
	}
	since = since.Truncate(time.Second)
	var out []Record
	for _, m := range page.Messages {
		r := Record{
			SID: deref(m.Sid), From: deref(m.From), To: deref(m.To), Body: deref(m.Body),
			Status: deref(m.Status), Direction: deref(m.Direction),
		}
		if m.DateCreated != nil {
			t, err := time.Parse(time.RFC1123Z, *m.DateCreated)
			if err != nil {
				return nil, fmt.Errorf("twiliosms: Recent: message %s has date_created %q: %w", r.SID, *m.DateCreated, err)
			}
			r.DateCreated = t
		}
		if r.DateCreated.Before(since) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
