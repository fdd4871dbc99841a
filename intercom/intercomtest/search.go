package intercomtest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The search endpoints (POST /contacts/search, POST /conversations/search)
// share the request shape, the query language and cursor pagination.

type searchRequest struct {
	Query      json.RawMessage `json:"query"`
	Pagination *struct {
		PerPage       *int    `json:"per_page"`
		StartingAfter *string `json:"starting_after"`
	} `json:"pagination"`
	Sort *struct {
		Field string `json:"field"`
		Order string `json:"order"`
	} `json:"sort"`
}

// fieldKind is the type of a searchable field, which decides the operators
// and values it accepts.
type fieldKind int

const (
	kindString fieldKind = iota
	kindDate             // UNIX seconds: =, <, > only
	kindInt              // =, !=, IN, NIN, <, >, <=, >=
	kindBool             // =, !=
)

// fieldSet names the searchable fields of a resource and their kinds.
type fieldSet map[string]fieldKind

// filter is a single filter or an AND/OR group of filters.
type filter struct {
	field    string
	operator string
	kind     fieldKind
	// value is nil (= or != null on a string field), a string, a
	// []string, an int64, a []int64 or a bool, after the field's kind.
	value any
	group []*filter
}

// query parses and checks the query of a search request, answering 400 when
// it is missing or invalid.
func (c *call) query(req *searchRequest, fields fieldSet) (*filter, bool) {
	if len(req.Query) == 0 || string(req.Query) == "null" {
		c.fail(http.StatusBadRequest, "parameter_not_found", "query is required")
		return nil, false
	}
	f, err := parseFilter(req.Query, fields, 0)
	if err != nil {
		c.fail(http.StatusBadRequest, "parameter_invalid", err.Error())
		return nil, false
	}
	return f, true
}

// page reads the pagination of a search request, answering 400 when it is
// invalid: per_page from 1 to 150 (def when absent), starting_after a cursor
// from an earlier answer.
func (c *call) page(req *searchRequest, def int) (perPage, offset int, ok bool) {
	perPage = def
	p := req.Pagination
	if p == nil {
		return perPage, 0, true
	}
	if p.PerPage != nil {
		perPage = *p.PerPage
		if perPage < 1 || perPage > 150 {
			c.fail(http.StatusBadRequest, "parameter_invalid", "per_page must be between 1 and 150")
			return 0, 0, false
		}
	}
	if p.StartingAfter != nil && *p.StartingAfter != "" {
		var err error
		if offset, err = decodeCursor(*p.StartingAfter); err != nil {
			c.fail(http.StatusBadRequest, "parameter_invalid", "starting_after is not a valid cursor")
			return 0, 0, false
		}
	}
	return perPage, offset, true
}

// bounds returns the slice bounds of the page at offset among total hits.
func bounds(total, offset, perPage int) (lo, hi int) {
	return min(offset, total), min(offset+perPage, total)
}

type wirePages struct {
	Type       string    `json:"type"`
	Page       int       `json:"page"`
	PerPage    int       `json:"per_page"`
	TotalPages int       `json:"total_pages"`
	Next       *wireNext `json:"next,omitempty"`
}

type wireNext struct {
	PerPage       int    `json:"per_page"`
	StartingAfter string `json:"starting_after"`
}

// pages describes the page at offset among total hits, with a cursor to
// the next page when there is one.
func pages(total, offset, perPage int) wirePages {
	p := wirePages{Type: "pages", Page: offset/perPage + 1, PerPage: perPage,
		TotalPages: (total + perPage - 1) / perPage}
	if offset+perPage < total {
		p.Next = &wireNext{PerPage: perPage, StartingAfter: encodeCursor(offset + perPage)}
	}
	return p
}

func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(offset)))
}

func decodeCursor(s string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, err
	}
	n, ok := strings.CutPrefix(string(b), "offset:")
	if !ok {
		return 0, errors.New("bad cursor")
	}
	v, err := strconv.Atoi(n)
	if err != nil || v < 0 {
		return 0, errors.New("bad cursor")
	}
	return v, nil
}

// parseFilter parses a query: a single filter {field, operator, value} or a
// group {operator: AND|OR, value: [...]} nested at most two levels deep with
// at most 15 filters per group, as the API documents. Fields outside fields
// are refused, and so are operators and values that do not suit the
// field's kind.
func parseFilter(raw json.RawMessage, fields fieldSet, depth int) (*filter, error) {
	var q struct {
		Field    *string         `json:"field"`
		Operator string          `json:"operator"`
		Value    json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &q); err != nil {
		return nil, fmt.Errorf("query: %v", err)
	}
	if q.Field == nil {
		if q.Operator != "AND" && q.Operator != "OR" {
			return nil, fmt.Errorf("query: a filter needs a field, a group needs operator AND or OR (got %q)", q.Operator)
		}
		if depth >= 2 {
			return nil, errors.New("query: filters nest at most 2 levels deep")
		}
		var items []json.RawMessage
		if err := json.Unmarshal(q.Value, &items); err != nil || len(items) == 0 {
			return nil, fmt.Errorf("query: the value of an %s group must be a non-empty array of filters", q.Operator)
		}
		if len(items) > 15 {
			return nil, fmt.Errorf("query: at most 15 filters per %s group, got %d", q.Operator, len(items))
		}
		g := &filter{operator: q.Operator}
		for _, it := range items {
			sub, err := parseFilter(it, fields, depth+1)
			if err != nil {
				return nil, err
			}
			g.group = append(g.group, sub)
		}
		return g, nil
	}
	kind, ok := fields[*q.Field]
	if !ok {
		return nil, fmt.Errorf("query: intercomtest cannot search on field %q", *q.Field)
	}
	f := &filter{field: *q.Field, operator: q.Operator, kind: kind}
	var err error
	switch kind {
	case kindString:
		err = f.parseString(q.Value)
	case kindDate, kindInt:
		err = f.parseNumber(q.Value)
	case kindBool:
		err = f.parseBool(q.Value)
	}
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return f, nil
}

var knownOperators = []string{"=", "!=", "IN", "NIN", "<", "<=", ">", ">=", "~", "!~", "^", "$"}

func (f *filter) unsupported() error {
	if !slices.Contains(knownOperators, f.operator) {
		return fmt.Errorf("unknown operator %q", f.operator)
	}
	kind := map[fieldKind]string{kindString: "string", kindDate: "date", kindInt: "integer", kindBool: "boolean"}[f.kind]
	return fmt.Errorf("operator %s does not apply to %s field %s", f.operator, kind, f.field)
}

func (f *filter) parseString(raw json.RawMessage) error {
	switch f.operator {
	case "=", "!=", "~", "!~", "^", "$":
		var v *string
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%s %s needs a string value", f.field, f.operator)
		}
		if v != nil {
			f.value = *v
		} else if f.operator != "=" && f.operator != "!=" {
			return fmt.Errorf("%s %s needs a string value", f.field, f.operator)
		}
	case "IN", "NIN":
		var v []string
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%s %s needs an array of strings", f.field, f.operator)
		}
		f.value = v
	default:
		return f.unsupported()
	}
	return nil
}

// parseNumber parses the value of a date or integer filter: a JSON integer
// or a string of digits, as in the API description's example
// {"field":"created_at","operator":">","value":"1306054154"}.
func (f *filter) parseNumber(raw json.RawMessage) error {
	ops := []string{"=", "<", ">"}
	if f.kind == kindInt {
		ops = []string{"=", "!=", "<", ">", "<=", ">=", "IN", "NIN"}
	}
	if !slices.Contains(ops, f.operator) {
		return f.unsupported()
	}
	if f.operator == "IN" || f.operator == "NIN" {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Errorf("%s %s needs an array of integers", f.field, f.operator)
		}
		var vs []int64
		for _, it := range items {
			n, err := number(it)
			if err != nil {
				return fmt.Errorf("%s %s: %w", f.field, f.operator, err)
			}
			vs = append(vs, n)
		}
		f.value = vs
		return nil
	}
	n, err := number(raw)
	if err != nil {
		return fmt.Errorf("%s %s: %w", f.field, f.operator, err)
	}
	f.value = n
	return nil
}

func number(raw json.RawMessage) (int64, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %s", raw)
	}
	return n, nil
}

func (f *filter) parseBool(raw json.RawMessage) error {
	if f.operator != "=" && f.operator != "!=" {
		return f.unsupported()
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil || (s != "true" && s != "false") {
			return fmt.Errorf("%s %s needs a boolean value", f.field, f.operator)
		}
		b = s == "true"
	}
	f.value = b
	return nil
}

// match reports whether the resource whose field values get returns
// matches f. A field may hold several values (contact_ids, tag_ids): = and
// IN then need one of them to match, != and NIN none of them. "" stands for
// null; null dates and integers match no comparison.
func (f *filter) match(get func(field string) []string) bool {
	switch f.operator {
	case "AND":
		for _, g := range f.group {
			if !g.match(get) {
				return false
			}
		}
		return true
	case "OR":
		for _, g := range f.group {
			if g.match(get) {
				return true
			}
		}
		return false
	}
	vals := get(f.field)
	switch f.kind {
	case kindDate, kindInt:
		return f.matchNumber(vals)
	case kindBool:
		got := len(vals) > 0 && vals[0] == "true"
		return (got == f.value.(bool)) == (f.operator == "=")
	}
	switch v := f.value.(type) {
	case nil: // = null: the field is empty; != null: it is set.
		set := slices.ContainsFunc(vals, func(s string) bool { return s != "" })
		return set == (f.operator == "!=")
	case []string:
		in := slices.ContainsFunc(vals, func(s string) bool { return slices.Contains(v, s) })
		return in == (f.operator == "IN")
	case string:
		some := func(pred func(string) bool) bool { return slices.ContainsFunc(vals, pred) }
		switch f.operator {
		case "=":
			return some(func(s string) bool { return s == v })
		case "!=":
			return !some(func(s string) bool { return s == v })
		case "~":
			return some(func(s string) bool { return strings.Contains(s, v) })
		case "!~":
			return !some(func(s string) bool { return strings.Contains(s, v) })
		case "^":
			return some(func(s string) bool { return strings.HasPrefix(s, v) })
		case "$":
			return some(func(s string) bool { return strings.HasSuffix(s, v) })
		}
	}
	return false
}

// matchNumber compares date and integer values. > and < are strict, as
// their names say; the API description also calls them "greater (or
// equal)" and "lower (or equal)", so clients should not rely on either
// reading at the bound.
func (f *filter) matchNumber(vals []string) bool {
	var nums []int64
	for _, s := range vals {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			nums = append(nums, n)
		}
	}
	anyNum := func(pred func(int64) bool) bool { return slices.ContainsFunc(nums, pred) }
	switch v := f.value.(type) {
	case []int64:
		return anyNum(func(n int64) bool { return slices.Contains(v, n) }) == (f.operator == "IN")
	case int64:
		switch f.operator {
		case "=":
			return anyNum(func(n int64) bool { return n == v })
		case "!=":
			return !anyNum(func(n int64) bool { return n == v })
		case "<":
			return anyNum(func(n int64) bool { return n < v })
		case "<=":
			return anyNum(func(n int64) bool { return n <= v })
		case ">":
			return anyNum(func(n int64) bool { return n > v })
		case ">=":
			return anyNum(func(n int64) bool { return n >= v })
		}
	}
	return false
}
