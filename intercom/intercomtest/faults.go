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
type Fault struct {
	// Status, when not 0, answers the request with this status instead of
	// handling it. The body is Body, or else an Intercom error.list that
	// names the status (e.g. 503 service_unavailable).
	Status int
	// Body is the response body sent with Status (as application/json).
	Body string
	// Header holds extra response headers sent with Status, e.g. Retry-After.
	Header http.Header
	// Latency delays the answer (or the drop). The request is then handled
	// normally when neither Status nor Drop is set.
	Latency time.Duration
	// Drop closes the connection without an answer.
	Drop bool
	// Commit handles the request before Status or Drop replaces the answer:
	// the request takes effect, but the client never learns it did, as when
	// a response is lost in transit.
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
	case f.Status == 0 && !f.Drop && f.Latency == 0:
		return fmt.Errorf("intercomtest: Fail: the fault does nothing: set Status, Drop or Latency")
	case f.Commit && f.Status == 0 && !f.Drop:
		return fmt.Errorf("intercomtest: Fail: Commit needs Status or Drop")
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
