package intercomtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// result is one answer of the fake.
type result struct {
	status int
	header http.Header
	body   []byte
	obj    map[string]any
}

// errCode returns the first error code of an error.list answer.
func (r result) errCode() string {
	errs, _ := r.obj["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r result) errMessage() string {
	errs, _ := r.obj["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	e, _ := errs[0].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func (r result) str(key string) string {
	v, _ := r.obj[key].(string)
	return v
}

// do sends an authenticated API request. Extra headers come as "Name: value"
// pairs; an empty value deletes the default.
func do(t *testing.T, s *Server, method, path string, body any, headers ...string) result {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Intercom-Version", "2.16")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if v = strings.TrimSpace(v); v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := result{status: resp.StatusCode, header: resp.Header, body: b}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.obj); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, b)
		}
	}
	return r
}

// mustStatus fails the test unless r has the wanted status.
func mustStatus(t *testing.T, r result, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body %s", r.status, want, r.body)
	}
}

// newTestServer starts a server without a budget and closes it after the test.
func newTestServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := NewServer(append([]Option{WithBudget(0, 0)}, opts...)...)
	t.Cleanup(s.Close)
	return s
}

// dig digs into decoded JSON: keys for objects, ints for arrays.
func dig(t *testing.T, v any, steps ...any) any {
	t.Helper()
	for _, st := range steps {
		switch k := st.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: not an object: %v", st, v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at %v: not an array of more than %d: %v", st, k, v)
			}
			v = a[k]
		}
	}
	return v
}
