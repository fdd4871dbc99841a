package intercomtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// TestContactUpdateSpecConformance runs the contact update and contact tag
// methods of the client against the fake, with their error answers, and
// checks every exchange against Intercom's OpenAPI description.
func TestContactUpdateSpecConformance(t *testing.T) {
	sp := loadSpec(t)
	ctx := context.Background()
	s := intercomtest.NewServer(intercomtest.WithDataAttributes(
		intercomtest.DataAttribute{Name: "sms_opted_out", Type: intercomtest.AttributeBoolean},
		intercomtest.DataAttribute{Name: "last_sms_sent", Type: intercomtest.AttributeDate},
	))
	defer s.Close()
	c, rec := recordedClient(t, s, intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 1}))
	hc := &http.Client{Transport: rec, Timeout: 10 * time.Second} // raw requests, recorded too
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	lead, err := s.AddContact(intercomtest.Contact{Role: "lead", Phone: "+15551230001"})
	must("AddContact", err)
	user, err := s.AddContact(intercomtest.Contact{Role: "user", Phone: "+15551230002", Email: "ann@example.com"})
	must("AddContact", err)

	sent := time.Date(2026, 11, 30, 12, 0, 7, 0, time.UTC)
	ct, err := c.UpdateContact(ctx, lead.ID, intercom.ContactUpdate{CustomAttributes: map[string]any{
		"sms_opted_out": true, "last_sms_sent": intercom.UnixSeconds(sent),
	}})
	must("UpdateContact", err)
	if ct.ID != lead.ID {
		t.Errorf("UpdateContact answered contact %s, want %s", ct.ID, lead.ID)
	}
	attrs := s.ContactAttributes(lead.ID)
	if attrs["sms_opted_out"] != true || attrs["last_sms_sent"] != json.Number(fmt.Sprint(sent.Unix())) {
		t.Errorf("attributes = %v", attrs)
	}

	tag, err := c.CreateTag(ctx, "SMS opted out")
	must("CreateTag", err)
	again, err := c.CreateTag(ctx, "sms OPTED out")
	must("CreateTag (existing)", err)
	if again.ID != tag.ID || tag.Name != "SMS opted out" {
		t.Errorf("CreateTag = %+v then %+v, want one tag", tag, again)
	}
	must("TagContact", c.TagContact(ctx, lead.ID, tag.ID))
	must("TagContact (again)", c.TagContact(ctx, lead.ID, tag.ID))
	if ts := s.ContactTags(lead.ID); len(ts) != 1 || ts[0].ID != tag.ID || ts[0].AppliedAt.IsZero() {
		t.Errorf("contact tags = %+v, want the one tag", ts)
	}
	got, err := c.Contact(ctx, lead.ID)
	must("Contact", err)
	if got.ID != lead.ID {
		t.Errorf("Contact = %+v", got)
	}
	must("UntagContact", c.UntagContact(ctx, lead.ID, tag.ID))
	if ts := s.ContactTags(lead.ID); len(ts) != 0 {
		t.Errorf("contact tags after untag = %+v", ts)
	}

	// An unknown attribute, a value of the wrong type: 400, not retryable.
	_, err = c.UpdateContact(ctx, lead.ID, intercom.ContactUpdate{CustomAttributes: map[string]any{"sms_optout": true}})
	var ie *intercom.Error
	if !errors.As(err, &ie) || ie.StatusCode != http.StatusBadRequest || !ie.HasCode("parameter_invalid") ||
		!strings.Contains(err.Error(), "sms_optout") || intercom.IsRetryable(err) {
		t.Errorf("unknown attribute: err = %v, want 400 parameter_invalid naming it", err)
	}
	_, err = c.UpdateContact(ctx, lead.ID, intercom.ContactUpdate{CustomAttributes: map[string]any{"sms_opted_out": "yes"}})
	if !errors.As(err, &ie) || ie.StatusCode != http.StatusBadRequest {
		t.Errorf("wrong type: err = %v, want 400", err)
	}
	if attrs := s.ContactAttributes(lead.ID); attrs["sms_opted_out"] != true {
		t.Errorf("a refused update changed the attributes: %v", attrs)
	}

	// A merged contact: the client follows the 410 to the canonical one.
	must("MergeContact", s.MergeContact(lead.ID, user.ID))
	ct, err = c.UpdateContact(ctx, lead.ID, intercom.ContactUpdate{CustomAttributes: map[string]any{"sms_opted_out": false}})
	must("UpdateContact (merged)", err)
	if ct.ID != user.ID || s.ContactAttributes(user.ID)["sms_opted_out"] != false {
		t.Errorf("merged: updated %s with %v, want %s", ct.ID, s.ContactAttributes(user.ID), user.ID)
	}
	must("TagContact (merged)", c.TagContact(ctx, lead.ID, tag.ID))
	if ts := s.ContactTags(user.ID); len(ts) != 1 {
		t.Errorf("merged: canonical contact tags = %+v", ts)
	}
	must("UntagContact (merged)", c.UntagContact(ctx, lead.ID, tag.ID))
	if ts := s.ContactTags(user.ID); len(ts) != 0 {
		t.Errorf("merged: canonical contact tags after untag = %+v", ts)
	}

	// Unknown contacts and tags: 404.
	const nobody = "0123456789abcdef01234567"
	if _, err := c.UpdateContact(ctx, nobody, intercom.ContactUpdate{CustomAttributes: map[string]any{"sms_opted_out": true}}); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("UpdateContact unknown contact: %v", err)
	}
	if err := c.TagContact(ctx, nobody, tag.ID); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("TagContact unknown contact: %v", err)
	}
	if err := c.TagContact(ctx, user.ID, "424242"); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("TagContact unknown tag: %v", err)
	}
	if err := c.UntagContact(ctx, user.ID, "424242"); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("UntagContact unknown tag: %v", err)
	}

	// Raw requests for answers the client does not provoke.
	raw := func(method, path, body string, authenticated bool, deliberate ...bool) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if authenticated {
			req.Header.Set("Authorization", "Bearer "+s.Token)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Intercom-Version", "2.16")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if len(deliberate) > 0 {
			req.Header.Set("X-Test-Deliberately-Invalid", "1")
		}
		resp, err := hc.Do(req)
		must(method+" "+path, err)
		resp.Body.Close()
	}
	// The schema wants a string id; its examples send a number too, which
	// the fake takes.
	raw("POST", "/contacts/"+user.ID+"/tags", `{"id":`+tag.ID+`}`, true, true)
	raw("POST", "/tags", `{"test":"invalid"}`, true, true)
	raw("POST", "/tags", `{"name":"x"}`, false)
	raw("POST", "/contacts/"+user.ID+"/tags", `{"id":"`+tag.ID+`"}`, false)
	raw("DELETE", "/contacts/"+user.ID+"/tags/"+tag.ID, "", false)
	raw("PUT", "/contacts/"+user.ID, `{"custom_attributes":{"sms_opted_out":true}}`, false)

	ops := map[string]bool{}
	for _, x := range rec.exchanges() {
		for _, p := range sp.checkExchange(x, s.Token) {
			t.Error(p)
		}
		if o, _ := sp.find(x.method, x.path); o != nil {
			ops[fmt.Sprintf("%s %d", o.op["operationId"], x.status)] = true
		}
	}
	for _, want := range []string{
		"UpdateContact 200", "UpdateContact 400", "UpdateContact 404", "UpdateContact 410", "UpdateContact 401",
		"attachTagToContact 200", "attachTagToContact 404", "attachTagToContact 410", "attachTagToContact 401",
		"detachTagFromContact 200", "detachTagFromContact 404", "detachTagFromContact 410", "detachTagFromContact 401",
		"createTag 200", "createTag 400", "createTag 401",
	} {
		if !ops[want] {
			t.Errorf("the run did not exercise %s", want)
		}
	}
}

func TestDataAttributeDeclarations(t *testing.T) {
	for _, a := range []intercomtest.DataAttribute{
		{Name: "", Type: intercomtest.AttributeBoolean},
		{Name: "a.b", Type: intercomtest.AttributeBoolean},
		{Name: "x", Type: "bool"},
	} {
		s := intercomtest.NewServer()
		if err := s.AddDataAttribute(a); err == nil {
			t.Errorf("AddDataAttribute(%+v) accepted", a)
		}
		s.Close()
	}
	s := intercomtest.NewServer()
	defer s.Close()
	if err := s.AddDataAttribute(intercomtest.DataAttribute{Name: "x", Type: intercomtest.AttributeBoolean}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDataAttribute(intercomtest.DataAttribute{Name: "x", Type: intercomtest.AttributeString}); err == nil {
		t.Error("redeclaring x with another type was accepted")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("NewServer accepted an invalid WithDataAttributes")
			}
		}()
		intercomtest.NewServer(intercomtest.WithDataAttributes(intercomtest.DataAttribute{Name: "y", Type: "nope"})).Close()
	}()
}
