package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file is the operator API: what an on-call engineer needs to see why
// a text did not go out, and to fix it, without writing Go. The page that
// uses it is in adminpage.go.

const (
	// minAdminToken is the shortest Config.AdminToken accepted.
	minAdminToken = 16
	// adminMaxBody bounds what the operator API reads of a request.
	adminMaxBody = 64 << 10
	// adminMaxList is the most dead letters one request lists or replays.
	adminMaxList = 1000
	// adminDefaultList is how many dead letters a listing shows by default.
	adminDefaultList = 100
	// bodyPreview is how many characters of a message body the operator
	// API shows.
	bodyPreview = 20
	// adminCookie carries the page's session.
	adminCookie = "smsrelay_admin"
)

// AdminHandler returns the operator API and page, or a handler that answers
// 404 to everything when Config.AdminToken is not set. Mount it under a
// path of its own with the prefix stripped, for instance:
//
//	mux.Handle("/admin/", http.StripPrefix("/admin", r.AdminHandler()))
//
// Every request must carry "Authorization: Bearer <AdminToken>" (compared
// in constant time), or the session cookie the page's sign-in form sets;
// others get 401. Answers are JSON, except the page. The routes, relative
// to the mount point:
//
//	GET  /                                  the operator page (HTML)
//	GET  /api/queue                         jobs ready, leased and dead; dead letters by kind
//	GET  /api/budget                        the Intercom budget and Intercom's recent 429s
//	GET  /api/send-failures                 recent texts Twilio refused or did not deliver, by error code
//	GET  /api/dead-letters?kind=K&limit=N   dead letters, oldest first, payloads masked
//	POST /api/dead-letters/{id}/replay      put one back in the queue
//	POST /api/dead-letters/{id}/discard     delete one for good; body {"reason": "..."} (required, logged)
//	POST /api/kinds/{kind}/replay           replay every dead letter of a kind
//
// Payloads are shown with phone numbers masked and message bodies cut to
// their first few characters. Budget and send-failure figures are this
// process's own since it started. A POST a browser sends from another
// origin is refused with 403, so that a page elsewhere cannot use an
// operator's session.
func (r *Relay) AdminHandler() http.Handler {
	if r.cfg.AdminToken == "" {
		return http.NotFoundHandler()
	}
	a := &admin{r: r, token: []byte(r.cfg.AdminToken), now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.page)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /api/queue", a.authed(a.queue))
	mux.HandleFunc("GET /api/budget", a.authed(a.budget))
	mux.HandleFunc("GET /api/send-failures", a.authed(a.sendFailures))
	mux.HandleFunc("GET /api/dead-letters", a.authed(a.deadLetters))
	mux.HandleFunc("POST /api/dead-letters/{id}/replay", a.authed(a.replay))
	mux.HandleFunc("POST /api/dead-letters/{id}/discard", a.authed(a.discard))
	mux.HandleFunc("POST /api/kinds/{kind}/replay", a.authed(a.replayKind))
	return sameOrigin(noStore(mux))
}

// admin serves the operator API.
type admin struct {
	r     *Relay
	token []byte
	now   func() time.Time
}

// sameOrigin refuses a POST that a browser says comes from another origin
// (Sec-Fetch-Site, or else Origin against Host). Requests from curl and
// other clients carry neither header and pass; they need the token.
func sameOrigin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			cross := false
			if site := req.Header.Get("Sec-Fetch-Site"); site != "" {
				cross = site != "same-origin" && site != "none"
			} else if o := req.Header.Get("Origin"); o != "" {
				u, err := url.Parse(o)
				cross = err != nil || u.Host != req.Host
			}
			if cross {
				writeJSONError(w, http.StatusForbidden, "cross-origin request refused")
				return
			}
		}
		h.ServeHTTP(w, req)
	})
}

// noStore keeps answers out of caches: they are private and change.
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, req)
	})
}

// session is the cookie value the sign-in form sets: a MAC of a fixed
// label under the token, so that the cookie is not the token itself and
// changes with it.
func (a *admin) session() string {
	m := hmac.New(sha256.New, a.token)
	io.WriteString(m, "smsrelay admin session v1")
	return hex.EncodeToString(m.Sum(nil))
}

// allowed reports whether req carries the token or a session.
func (a *admin) allowed(req *http.Request) bool {
	if h := req.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		return ok && strings.EqualFold(scheme, "Bearer") &&
			subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), a.token) == 1
	}
	if c, err := req.Cookie(adminCookie); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.session())) == 1
	}
	return false
}

// authed answers 401 to a request without the token or a session.
func (a *admin) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if !a.allowed(req) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="smsrelay admin"`)
			writeJSONError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h(w, req)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// QueueFigures is what GET /api/queue answers.
type QueueFigures struct {
	Ready  int `json:"ready"`
	Leased int `json:"leased"`
	Dead   int `json:"dead"`
	// DeadByKind counts the dead letters of each kind, over the oldest
	// 1000 at most (DeadListed says how many were looked at).
	DeadByKind map[string]int `json:"dead_by_kind"`
	DeadListed int            `json:"dead_listed"`
	// OldestDeadAge is the age of the oldest dead letter, in seconds.
	OldestDeadAge float64 `json:"oldest_dead_age_seconds"`
	// Kinds counts jobs per kind, when the queue can (store.QueueInspector);
	// otherwise it is absent.
	Kinds []KindFigures `json:"kinds,omitempty"`
}

// KindFigures counts one kind's jobs.
type KindFigures struct {
	Kind   string `json:"kind"`
	Ready  int    `json:"ready"`
	Leased int    `json:"leased"`
	Dead   int    `json:"dead"`
	// OldestReadyAge is how long ago the oldest ready job was enqueued, in
	// seconds; 0 when none is ready.
	OldestReadyAge float64 `json:"oldest_ready_age_seconds"`
}

func (a *admin) queueFigures(ctx context.Context) (QueueFigures, error) {
	s, err := a.r.Stats(ctx)
	if err != nil {
		return QueueFigures{}, err
	}
	q := QueueFigures{Ready: s.Ready, Leased: s.Leased, Dead: s.Dead, DeadByKind: map[string]int{}}
	if a.r.insp != nil {
		ks, err := a.r.KindStats(ctx)
		if err != nil {
			return QueueFigures{}, err
		}
		now := a.now()
		for _, k := range ks {
			f := KindFigures{Kind: k.Kind, Ready: k.Ready, Leased: k.Leased, Dead: k.Dead}
			if !k.OldestReady.IsZero() {
				f.OldestReadyAge = max(now.Sub(k.OldestReady).Seconds(), 0)
			}
			q.Kinds = append(q.Kinds, f)
		}
	}
	if s.Dead == 0 {
		return q, nil
	}
	dead, err := a.r.DeadLetters(ctx, adminMaxList)
	if err != nil {
		return QueueFigures{}, err
	}
	q.DeadListed = len(dead)
	for _, j := range dead {
		q.DeadByKind[j.Kind]++
	}
	if len(dead) > 0 {
		q.OldestDeadAge = a.now().Sub(dead[0].CreatedAt).Seconds()
	}
	return q, nil
}

func (a *admin) queue(w http.ResponseWriter, req *http.Request) {
	q, err := a.queueFigures(req.Context())
	if err != nil {
		a.storeFailed(w, "reading the queue", err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

// storeFailed answers 503 when the store did not answer.
func (a *admin) storeFailed(w http.ResponseWriter, what string, err error) {
	a.r.log.Error("relay: admin: "+what, "err", err)
	writeJSONError(w, http.StatusServiceUnavailable, what+": the store did not answer; see the logs")
}

// BudgetFigures is what GET /api/budget answers.
type BudgetFigures struct {
	// Limit requests per Window are the budget; Limit is 0 when the
	// limiter does not tell.
	Limit  int     `json:"limit"`
	Window float64 `json:"window_seconds"`
	// Admitted counts this process's calls admitted in the last Window.
	Admitted int `json:"admitted_in_window"`
	// HeldUntil is when the latest Retry-After of a 429 runs out, if it
	// has not yet.
	HeldUntil *time.Time `json:"held_until,omitempty"`
	// Holds are Intercom's recent 429 answers, newest first.
	Holds []Hold `json:"holds"`
}

func (a *admin) budgetFigures() BudgetFigures {
	b := BudgetFigures{Window: rateWindow.Seconds(), Admitted: a.r.w.admittedNow(), Holds: a.r.w.recentHolds()}
	if l, ok := a.r.lim.(interface{ Limit() (int, time.Duration) }); ok {
		n, win := l.Limit()
		b.Limit, b.Window = n, win.Seconds()
	}
	now := a.now()
	for _, h := range b.Holds {
		if until := h.At.Add(h.RetryAfter); until.After(now) && (b.HeldUntil == nil || until.After(*b.HeldUntil)) {
			b.HeldUntil = &until
		}
	}
	if b.Holds == nil {
		b.Holds = []Hold{}
	}
	return b
}

func (a *admin) budget(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.budgetFigures())
}

func (a *admin) failureFigures() []SendFailures {
	f := a.r.w.failuresByCode()
	for i := range f {
		f[i].Meaning = twiliosms.Describe(f[i].Code)
	}
	if f == nil {
		f = []SendFailures{}
	}
	return f
}

func (a *admin) sendFailures(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"by_code": a.failureFigures()})
}

// DeadLetter is a dead letter as the operator API shows it.
type DeadLetter struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Key      string `json:"key"` // the ordering key, phone numbers masked
	Attempts int    `json:"attempts"`
	// Reason is the error that killed the job, phone numbers and email addresses masked.
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	// Age is the job's age in seconds.
	Age float64 `json:"age_seconds"`
	// Payload is the job's data, decoded, with phone numbers masked and
	// message bodies cut short.
	Payload any `json:"payload"`
}

func (a *admin) deadLetterList(ctx context.Context, kind string, limit int) ([]DeadLetter, error) {
	// Filtering by kind happens here, over the oldest adminMaxList.
	jobs, err := a.r.DeadLetters(ctx, adminMaxList)
	if err != nil {
		return nil, err
	}
	out := []DeadLetter{}
	now := a.now()
	for _, j := range jobs {
		if kind != "" && j.Kind != kind {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, DeadLetter{
			ID: j.ID, Kind: j.Kind, Key: redact(j.Key), Attempts: j.Attempt,
			Reason: redact(j.LastError), CreatedAt: j.CreatedAt, Age: now.Sub(j.CreatedAt).Seconds(),
			Payload: maskPayload(j.Payload),
		})
	}
	return out, nil
}

func (a *admin) deadLetters(w http.ResponseWriter, req *http.Request) {
	limit := adminDefaultList
	if v := req.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > adminMaxList {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("limit must be a whole number from 1 to %d", adminMaxList))
			return
		}
		limit = n
	}
	kind := req.URL.Query().Get("kind")
	if kind != "" && !slices.Contains(Kinds(), kind) {
		writeJSONError(w, http.StatusBadRequest, "unknown kind; kinds are "+strings.Join(Kinds(), ", "))
		return
	}
	list, err := a.deadLetterList(req.Context(), kind, limit)
	if err != nil {
		a.storeFailed(w, "listing dead letters", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": list})
}

func (a *admin) replay(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	err := a.r.Replay(req.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.answer(w, req, http.StatusNotFound, "no dead letter "+id, "")
	case err != nil:
		a.storeFailed(w, "replaying", err)
	default:
		a.r.log.Info("relay: admin: dead letter replayed", "job", id)
		a.answer(w, req, http.StatusOK, "replayed "+id, "replayed")
	}
}

func (a *admin) discard(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	reason, ok := a.reason(w, req)
	if !ok {
		return
	}
	err := a.r.DiscardDeadLetter(req.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.answer(w, req, http.StatusNotFound, "no dead letter "+id, "")
	case err != nil:
		a.storeFailed(w, "discarding", err)
	default:
		a.r.log.Warn("relay: admin: dead letter discarded", "job", id, "reason", reason)
		a.answer(w, req, http.StatusOK, "discarded "+id, "discarded")
	}
}

func (a *admin) replayKind(w http.ResponseWriter, req *http.Request) {
	kind := req.PathValue("kind")
	if !slices.Contains(Kinds(), kind) {
		a.answer(w, req, http.StatusNotFound, "unknown kind; kinds are "+strings.Join(Kinds(), ", "), "")
		return
	}
	jobs, err := a.r.DeadLetters(req.Context(), adminMaxList)
	if err != nil {
		a.storeFailed(w, "listing dead letters", err)
		return
	}
	n := 0
	for _, j := range jobs {
		if j.Kind != kind {
			continue
		}
		err := a.r.Replay(req.Context(), j.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // replayed or discarded meanwhile
		}
		if err != nil {
			a.r.log.Error("relay: admin: replaying dead letters of a kind", "kind", kind, "replayed", n, "err", err)
			writeJSONError(w, http.StatusServiceUnavailable, fmt.Sprintf("replayed %d, then the store did not answer; see the logs", n))
			return
		}
		n++
	}
	a.r.log.Info("relay: admin: dead letters replayed", "kind", kind, "count", n)
	a.answer(w, req, http.StatusOK, fmt.Sprintf("replayed %d dead letters of kind %s", n, kind), "replayed-kind")
}

// reason reads the required reason of a discard, from a JSON body
// {"reason": "..."} or a form field.
func (a *admin) reason(w http.ResponseWriter, req *http.Request) (string, bool) {
	req.Body = http.MaxBytesReader(w, req.Body, adminMaxBody)
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	var reason string
	switch mt {
	case "application/json":
		var body struct {
			Reason string `json:"reason"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			a.answer(w, req, http.StatusBadRequest, `body must be JSON {"reason": "..."}`, "")
			return "", false
		}
		reason = body.Reason
	case "application/x-www-form-urlencoded":
		if err := req.ParseForm(); err != nil {
			a.answer(w, req, http.StatusBadRequest, "could not read the form", "")
			return "", false
		}
		reason = req.PostForm.Get("reason")
	default:
		a.answer(w, req, http.StatusUnsupportedMediaType, `send {"reason": "..."} as application/json`, "")
		return "", false
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		a.answer(w, req, http.StatusBadRequest, "a reason is required to discard a dead letter", "")
		return "", false
	}
	if utf8.RuneCountInString(reason) > 500 {
		a.answer(w, req, http.StatusBadRequest, "the reason must be at most 500 characters", "")
		return "", false
	}
	return reason, true
}

// answer ends an action: JSON for the API, or, for the page's forms, a
// redirect back to the page saying what happened (done) or what was wrong.
func (a *admin) answer(w http.ResponseWriter, req *http.Request, status int, msg, done string) {
	if !fromPage(req) {
		if status == http.StatusOK {
			writeJSON(w, status, map[string]string{"result": msg})
		} else {
			writeJSONError(w, status, msg)
		}
		return
	}
	q := url.Values{}
	if status == http.StatusOK {
		q.Set("done", done)
	} else {
		q.Set("problem", msg)
	}
	// Relative to the action's path, so that it works under any mount
	// point: /api/dead-letters/{id}/replay is three levels below it.
	up := strings.Repeat("../", strings.Count(strings.Trim(req.URL.Path, "/"), "/"))
	if up == "" {
		up = "./"
	}
	seeOther(w, up+"?"+q.Encode())
}

// seeOther redirects to loc, relative to the URL the browser asked for.
// (http.Redirect resolves a relative loc against the request's path, which
// behind http.StripPrefix lacks the mount point.)
func seeOther(w http.ResponseWriter, loc string) {
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

// fromPage reports whether req is a form the operator page posted.
func fromPage(req *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded" && req.Header.Get("Authorization") == ""
}

// Payload masking.

// addressFields name payload fields that hold a phone number or address.
var addressFields = map[string]bool{"from": true, "to": true, "sender": true, "customer": true, "phone": true}

// bodyFields name payload fields that hold what a customer or agent wrote.
var bodyFields = map[string]bool{"body": true, "error_message": true}

// maskPayload decodes a job's payload for showing: phone numbers masked,
// message bodies cut short. A payload that is not JSON shows as its size.
func maskPayload(p []byte) any {
	if len(p) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(p, &v); err != nil {
		return fmt.Sprintf("(%d bytes, not JSON)", len(p))
	}
	return maskValue("", v)
}

func maskValue(field string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = maskValue(strings.ToLower(k), val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = maskValue(field, val)
		}
		return out
	case string:
		switch {
		case addressFields[field]:
			return twiliosms.MaskAddress(x)
		case bodyFields[field]:
			return shorten(x)
		case field == "form":
			// A webhook's form, as the unreadable kind keeps it.
			f, err := url.ParseQuery(x)
			if err != nil {
				return fmt.Sprintf("(%d bytes)", len(x))
			}
			m := map[string]any{}
			for k, vals := range f {
				m[k] = maskValue(strings.ToLower(k), strings.Join(vals, ","))
			}
			return m
		}
		return redact(x)
	}
	return v
}

// shorten shows the first few characters of a message body, with phone
// numbers masked, and how long it was.
func shorten(s string) string {
	n := utf8.RuneCountInString(s)
	r := []rune(redact(s)) // before cutting, so that no number is cut in two
	if len(r) <= bodyPreview {
		return string(r)
	}
	return string(r[:bodyPreview]) + fmt.Sprintf("… (%d characters)", n)
}
