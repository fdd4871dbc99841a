package intercomtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := NewServer(WithBudget(1000, time.Minute))
	defer s.Close()
	rc := newReceiver(t)
	seed, _ := s.AddContact(Contact{Phone: "+15550000000"})
	conv, _ := s.StartConversation(seed.ID, "start")

	const workers = 16
	var created, conflicts atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers*10)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Everyone races to create the same contact: exactly one wins.
			r := do(t, s, http.MethodPost, "/contacts", map[string]any{"role": "lead", "phone": "+15557770000"})
			switch r.status {
			case 200:
				created.Add(1)
			case 409:
				conflicts.Add(1)
			default:
				errs <- fmt.Errorf("create: %d %s", r.status, r.body)
			}
			for i := range 5 {
				r := do(t, s, http.MethodPost, "/conversations/"+conv.ID+"/reply", map[string]any{
					"message_type": "comment", "type": "user", "intercom_user_id": seed.ID, "body": fmt.Sprintf("w%d-%d", w, i)})
				if r.status != 200 {
					errs <- fmt.Errorf("reply: %d %s", r.status, r.body)
				}
			}
			if _, st, err := s.AdminReply(ctx, rc.URL, conv.ID, "1", fmt.Sprintf("admin %d", w)); err != nil || st != 200 {
				errs <- fmt.Errorf("AdminReply: %d %v", st, err)
			}
			_ = s.Requests()
			_ = s.Conversations()
			_ = s.Contacts()
			_ = s.Deliveries()
			_ = s.RateLimited()
			if err := s.Fail("GET", "/nothing", Fault{Status: 500, Times: 1}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if created.Load() != 1 || conflicts.Load() != workers-1 {
		t.Errorf("created %d, conflicts %d; want 1 and %d", created.Load(), conflicts.Load(), workers-1)
	}
	c := mustConv(t, s, conv.ID)
	if len(c.Parts) != workers*6 {
		t.Errorf("%d parts, want %d", len(c.Parts), workers*6)
	}
	ids := map[string]bool{}
	for _, p := range c.Parts {
		if ids[p.ID] {
			t.Errorf("duplicate part id %s", p.ID)
		}
		ids[p.ID] = true
	}
	if n := len(rc.all()); n != workers {
		t.Errorf("receiver got %d notifications, want %d", n, workers)
	}
}

func TestConcurrentBudget(t *testing.T) {
	const n = 20
	s := NewServer(WithBudget(n, time.Minute))
	defer s.Close()
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch r := do(t, s, http.MethodGet, "/contacts/x", nil); r.status {
			case 404:
				ok.Add(1)
			case 429:
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != n || limited.Load() != 50-n || s.RateLimited() != 50-n {
		t.Errorf("admitted %d, limited %d (RateLimited %d); want %d and %d", ok.Load(), limited.Load(), s.RateLimited(), n, 50-n)
	}
}

func TestHTMLConversion(t *testing.T) {
	for _, tc := range []struct{ in, html, text string }{
		{"Hello", "<p>Hello</p>", "Hello"},
		{"a < b & c", "<p>a &lt; b &amp; c</p>", "a < b & c"},
		{"line1\nline2", "<p>line1<br>line2</p>", "line1\nline2"},
		{"<p>Hi <b>there</b></p>", "<p>Hi <b>there</b></p>", "Hi there"},
		{"<p>one</p><p>two</p>", "<p>one</p><p>two</p>", "one\ntwo"},
		{"<ul><li>a</li><li>b</li></ul>", "<ul><li>a</li><li>b</li></ul>", "a\nb"},
		{"x <3 y", "<p>x &lt;3 y</p>", "x <3 y"},
		{"", "", ""},
	} {
		if got := toHTML(tc.in); got != tc.html {
			t.Errorf("toHTML(%q) = %q, want %q", tc.in, got, tc.html)
		}
		if got := toText(toHTML(tc.in)); got != tc.text {
			t.Errorf("toText(toHTML(%q)) = %q, want %q", tc.in, got, tc.text)
		}
	}
}

func TestParseFilter(t *testing.T) {
	c := &Contact{ID: "id1", Role: "lead", Phone: "+1 555 0100", Name: "Ann"}
	for _, tc := range []struct {
		q     string
		match bool
		err   bool
	}{
		{`{"field":"phone","operator":"=","value":"+1 555 0100"}`, true, false},
		{`{"field":"formatted_phone","operator":"=","value":"+15550100"}`, true, false},
		{`{"field":"formatted_phone","operator":"IN","value":["+1","+15550100"]}`, true, false},
		{`{"operator":"AND","value":[{"field":"role","operator":"=","value":"lead"},{"field":"name","operator":"^","value":"A"}]}`, true, false},
		{`{"operator":"AND","value":[{"field":"role","operator":"=","value":"user"},{"field":"name","operator":"^","value":"A"}]}`, false, false},
		{`{"field":"email","operator":"=","value":null}`, true, false},
		{`{"field":"email","operator":"!=","value":null}`, false, false},
		{`{"field":"phone","operator":"~","value":null}`, false, true},
		{`{"field":"phone","operator":"IN","value":"x"}`, false, true},
		{`{"field":"phone"}`, false, true},
		{`{"operator":"OR"}`, false, true},
		{`[]`, false, true},
	} {
		f, err := parseFilter(json.RawMessage(tc.q), contactFields, 0)
		if (err != nil) != tc.err {
			t.Errorf("parseFilter(%s) error = %v, want error %v", tc.q, err, tc.err)
			continue
		}
		if err == nil && f.match(c.searchValues) != tc.match {
			t.Errorf("parseFilter(%s).match = %v, want %v", tc.q, !tc.match, tc.match)
		}
	}
}

func TestParseConversationFilter(t *testing.T) {
	created := time.Unix(1734537546, 0)
	c := &Conversation{
		ID: "515", State: StateOpen, ContactIDs: []string{"ct1", "ct2"}, Tags: []Tag{{ID: "77"}},
		Source:    Source{Type: "conversation", DeliveredAs: "customer_initiated", Author: Author{Type: "lead", ID: "ct1"}},
		CreatedAt: created, UpdatedAt: created.Add(time.Minute), TeamAssigneeID: "5017691",
	}
	for _, tc := range []struct {
		q     string
		match bool
		err   bool
	}{
		{`{"field":"contact_ids","operator":"=","value":"ct2"}`, true, false},
		{`{"field":"contact_ids","operator":"=","value":"ct3"}`, false, false},
		{`{"field":"contact_ids","operator":"!=","value":"ct1"}`, false, false},
		{`{"field":"contact_ids","operator":"IN","value":["x","ct1"]}`, true, false},
		{`{"field":"contact_ids","operator":"NIN","value":["ct1"]}`, false, false},
		{`{"field":"created_at","operator":">","value":"1734537545"}`, true, false},
		{`{"field":"created_at","operator":">","value":1734537546}`, false, false}, // strict
		{`{"field":"created_at","operator":"<","value":1734537547}`, true, false},
		{`{"field":"created_at","operator":"=","value":"1734537546"}`, true, false},
		{`{"field":"created_at","operator":">=","value":1}`, false, true}, // dates take =, <, > only
		{`{"field":"created_at","operator":"!=","value":1}`, false, true},
		{`{"field":"created_at","operator":">","value":"foobar"}`, false, true},
		{`{"field":"created_at","operator":"~","value":"1"}`, false, true},
		{`{"field":"updated_at","operator":">","value":1734537600}`, true, false},
		{`{"field":"snoozed_until","operator":"<","value":9999999999}`, false, false}, // null
		{`{"field":"state","operator":"=","value":"open"}`, true, false},
		{`{"field":"state","operator":">","value":"open"}`, false, true},
		{`{"field":"open","operator":"=","value":true}`, true, false},
		{`{"field":"open","operator":"!=","value":"true"}`, false, false},
		{`{"field":"read","operator":"=","value":"maybe"}`, false, true},
		{`{"field":"id","operator":"=","value":"515"}`, true, false},
		{`{"field":"id","operator":"=","value":515}`, false, true},
		{`{"field":"source.author.id","operator":"=","value":"ct1"}`, true, false},
		{`{"field":"source.author.type","operator":"IN","value":["user","lead"]}`, true, false},
		{`{"field":"team_assignee_id","operator":">=","value":"5017691"}`, true, false},
		{`{"field":"admin_assignee_id","operator":"=","value":0}`, true, false}, // unassigned
		{`{"field":"admin_assignee_id","operator":"IN","value":[1,"2"]}`, false, false},
		{`{"field":"tag_ids","operator":"=","value":"77"}`, true, false},
		{`{"field":"source.body","operator":"=","value":"x"}`, false, true}, // not implemented
		{`{"operator":"AND","value":[{"field":"contact_ids","operator":"=","value":"ct1"},{"field":"created_at","operator":">","value":"1734537545"}]}`, true, false},
		{`{"operator":"AND","value":[{"field":"contact_ids","operator":"=","value":"ct1"},{"field":"created_at","operator":">","value":"1734537546"}]}`, false, false},
		{`{"operator":"OR","value":[{"field":"state","operator":"=","value":"closed"},{"operator":"AND","value":[{"field":"id","operator":"=","value":"515"}]}]}`, true, false},
	} {
		f, err := parseFilter(json.RawMessage(tc.q), conversationFields, 0)
		if (err != nil) != tc.err {
			t.Errorf("parseFilter(%s) error = %v, want error %v", tc.q, err, tc.err)
			continue
		}
		if err == nil && f.match(c.searchValues) != tc.match {
			t.Errorf("parseFilter(%s).match = %v, want %v", tc.q, !tc.match, tc.match)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	f.Add(`{"field":"phone","operator":"=","value":"+15551234567"}`)
	f.Add(`{"operator":"OR","value":[{"field":"phone","operator":"=","value":"+1"},{"field":"formatted_phone","operator":"=","value":"+1"}]}`)
	f.Add(`{"operator":"AND","value":[{"operator":"OR","value":[{"field":"name","operator":"IN","value":["a"]}]}]}`)
	f.Add(`{"field":"email","operator":"=","value":null}`)
	f.Add(`not json`)
	f.Add(`{"operator":"AND","value":[{"field":"contact_ids","operator":"=","value":"x"},{"field":"created_at","operator":">","value":"1734537545"}]}`)
	f.Add(`{"field":"admin_assignee_id","operator":"NIN","value":[1,"2"]}`)
	f.Add(`{"field":"open","operator":"=","value":"true"}`)
	ct := &Contact{ID: "x", Role: "lead", Phone: "+15551234567", Name: "n", Email: "e@x"}
	conv := &Conversation{ID: "1", State: StateOpen, ContactIDs: []string{"x"}, CreatedAt: time.Unix(1734537546, 0)}
	f.Fuzz(func(t *testing.T, q string) {
		for _, set := range []struct {
			fields fieldSet
			values func(string) []string
		}{{contactFields, ct.searchValues}, {conversationFields, conv.searchValues}} {
			filter, err := parseFilter(json.RawMessage(q), set.fields, 0)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "query: ") {
					t.Errorf("error without prefix: %v", err)
				}
				continue
			}
			_ = filter.match(set.values)
		}
	})
}

func FuzzToText(f *testing.F) {
	for _, s := range []string{"<p>Hi <b>there</b></p>", "plain", "<br/>a<br>", "<p>&amp;&lt;</p><ul><li>x", "<<>>", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := toText(s)
		if strings.TrimSpace(out) != out {
			t.Errorf("toText(%q) = %q is not trimmed", s, out)
		}
		if h := toHTML(s); s != "" && h == "" {
			t.Errorf("toHTML(%q) is empty", s)
		}
	})
}
