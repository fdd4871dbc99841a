package relay_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// TestAdminPageSignsInAndReplays drives the page's forms as a browser
// would: sign in, see the dead letter, replay it with its button's form.
// The browser test in examples/server does the same in Chromium.
func TestAdminPageSignsInAndReplays(t *testing.T) {
	t.Parallel()
	h, srv := adminHarness(t)
	jar, _ := cookiejar.New(nil)
	client := srv.Client()
	client.Jar = jar
	get := func() string {
		t.Helper()
		res, err := client.Get(srv.URL + "/admin/")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	post := func(path string, form url.Values) string {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.Request.URL.Path != "/admin/" {
			t.Fatalf("POST %s ended at %s, want the page", path, res.Request.URL)
		}
		return string(b)
	}
	if page := post("/admin/login", url.Values{"token": {"not the token at all"}}); !strings.Contains(page, "not the admin token") {
		t.Fatalf("wrong token: page = %s", page)
	}
	page := post("/admin/login", url.Values{"token": {adminToken}})
	if !strings.Contains(page, `id="dead-letters"`) || strings.Contains(page, customer) {
		t.Fatalf("signed-in page lacks the dead letters or shows the number:\n%s", page)
	}
	dl, err := h.r.DeadLetters(t.Context(), 10)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters = %v, %v", dl, err)
	}
	action := "api/dead-letters/" + dl[0].ID + "/replay"
	if !strings.Contains(page, `action="`+action+`"`) {
		t.Fatalf("page has no replay form for %s", dl[0].ID)
	}
	h.ic.ClearFaults()
	page = post("/admin/"+action, nil)
	if !strings.Contains(page, "put back in the queue") || !strings.Contains(page, "No dead letters") {
		t.Fatalf("after replay: %s", page)
	}
	h.drain()
	h.onlyConversation()
	post("/admin/logout", nil)
	if page := get(); !strings.Contains(page, `name="token"`) {
		t.Errorf("after sign-out the page is not the sign-in form")
	}
}
