package intercomtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
)

// Fault is a failure the server injects into matching requests. A fault is
// applied after authentication and the budget, so a faulted request still
// counts against the budget.
//
// What the client sees is the answer (Status and Body, or the real answer),
// its timing (Latency, Hang) or its loss (Drop); whether the request takes
// effect is Commit's business:
//
//   - Without Commit, a request with Status, Drop or Hang never takes
//     effect, and one with Latency alone takes effect after the delay, and
//     only if the client is still waiting then: a client that leaves during
//     Latency drops the request.
//   - With Commit, the request takes effect the moment it arrives, before
//     any delay; Latency, Hang, Status and Drop then shape only the answer.
//     Fault{Commit: true, Latency: d} applies the request and sends its
//     real answer d later; Fault{Commit: true, Hang: true} applies it and
//     never answers; Fault{Commit: true, Status: 502} applies it and answers
//     502. A client that gives up during the delay has still changed the
//     server's state, as when Intercom does the work and the answer is lost.
type Fault struct {
	// Status, when not 0, answers the request with this status instead of
	// its real answer. The body is Body, or else an Intercom error.list
	// that names the status (e.g. 503 service_unavailable).
	Status int
	// Body is the response body sent with Status (as application/json).
	Body string
	// Header holds extra response headers sent with Status, e.g. Retry-After.
	Header http.Header
	// Latency delays the answer (or the drop). When neither Status nor Drop
	// is set, the answer is the real one, late. See [Fault] for whether the
	// request takes effect before or after the delay.
	Latency time.Duration
	// Hang holds the answer back until the client gives up (its request's
	// context ends or it closes the connection) or the server closes: no
	// answer ever comes. Hang excludes Status, Drop and Latency.
	Hang bool
	// Drop closes the connection without an answer.
	Drop bool
	// Commit makes the request take effect as soon as it arrives, whatever
	// the answer: the client never learns it did, or learns it late. See
	// [Fault].
	Commit bool
	// Times is how many matching requests the fault applies to; 0 means
	// every one.
	Times int
}

type faultRule struct {
	method  string
	pattern string
	fault   Fault
	left    int // remaining applications; -1 = unlimited
}

// Fail injects f into requests whose method equals method ("" or "*" for
// any) and whose path matches pathPattern, a [path.Match] pattern such as
// "/conversations/*/reply". Faults are tried in the order they were added;
// the first one that matches and has applications left is used. It returns
// an error, and injects nothing, when an argument is invalid.
func (s *Server) Fail(method, pathPattern string, f Fault) error {
	method = strings.ToUpper(strings.TrimSpace(method))
	if method == "*" {
		method = ""
	}
	if strings.ContainsAny(method, " \t/") {
		return fmt.Errorf("intercomtest: Fail: invalid method %q", method)
	}
	if !strings.HasPrefix(pathPattern, "/") {
		return fmt.Errorf("intercomtest: Fail: path pattern %q must start with /", pathPattern)
	}
	if _, err := path.Match(pathPattern, "/"); err != nil {
		return fmt.Errorf("intercomtest: Fail: path pattern %q: %w", pathPattern, err)
	}
	switch {
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return fmt.Errorf("intercomtest: Fail: status %d is not an HTTP status", f.Status)
	case f.Status != 0 && f.Drop:
		return fmt.Errorf("intercomtest: Fail: a fault cannot both answer %d and drop the connection", f.Status)
	case f.Status == 0 && !f.Drop && f.Latency == 0 && !f.Hang:
		return fmt.Errorf("intercomtest: Fail: the fault does nothing: set Status, Drop, Latency or Hang")
	case f.Hang && (f.Status != 0 || f.Drop || f.Latency != 0):
		return fmt.Errorf("intercomtest: Fail: Hang never answers: it cannot be combined with Status, Drop or Latency")
	case f.Body != "" && f.Status == 0:
		return fmt.Errorf("intercomtest: Fail: Body needs Status")
	case f.Body != "" && !json.Valid([]byte(f.Body)):
		return fmt.Errorf("intercomtest: Fail: Body is not valid JSON")
	case f.Latency < 0:
		return fmt.Errorf("intercomtest: Fail: negative latency %v", f.Latency)
	case f.Times < 0:
		return fmt.Errorf("intercomtest: Fail: negative Times %d", f.Times)
	}
	left := f.Times
	if left == 0 {
		left = -1
	}
	f.Header = f.Header.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{method: method, pattern: pathPattern, fault: f, left: left})
	return nil
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// matchFault consumes one application of the first matching fault.
func (s *Server) matchFault(method, p string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.faults {
		if r.left == 0 || (r.method != "" && r.method != method) {
			continue
		}
		if ok, _ := path.Match(r.pattern, p); !ok {
			continue
		}
		if r.left > 0 {
			r.left--
		}
		f := r.fault
		return &f
	}
	return nil
}

// defaultError names an injected status the way Intercom's error codes do.
func defaultError(status int, cfg config) (code, msg string) {
	switch status {
	case http.StatusBadRequest:
		return "parameter_invalid", "Bad request"
	case http.StatusUnauthorized:
		return "unauthorized", "Access Token Invalid"
	case http.StatusForbidden:
		return "api_plan_restricted", "Active subscription needed."
	case http.StatusNotFound:
		return "not_found", "Resource Not Found"
	case http.StatusConflict:
		return "conflict", "Conflict"
	case http.StatusUnprocessableEntity:
		return "unprocessable_entity", "Unprocessable entity"
	case http.StatusTooManyRequests:
		n, w := cfg.budget, cfg.window
		if n == 0 {
			n, w = DefaultBudget, DefaultBudgetWindow
		}
		return "rate_limit_exceeded", fmt.Sprintf("Exceeded rate limit of %d in %s", n, windowName(w))
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return "request_timeout", "Request timeout"
	case http.StatusServiceUnavailable:
		return "service_unavailable", "Service unavailable"
	}
	if status >= 500 {
		return "server_error", "Server error"
	}
	return "client_error", http.StatusText(status)
}
