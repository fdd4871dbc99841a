package pgstore

import (
	"io/fs"
	"math"
	"strings"
	"testing"
	"time"
)

// TestQueryFiles checks that every file under queries/ is loaded into a
// field and every field has a file, and that rendering leaves no
// placeholder behind.
func TestQueryFiles(t *testing.T) {
	files, err := fs.Glob(sqlFiles, "queries/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	fields := new(queries).files()
	if len(files) != len(fields) {
		t.Errorf("%d query files, %d query fields", len(files), len(fields))
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "queries/"), ".sql")
		if _, ok := fields[name]; !ok {
			t.Errorf("query file %s is not loaded by any field", f)
		}
	}
	q, err := loadQueries("relay_x")
	if err != nil {
		t.Fatal(err)
	}
	for name, sql := range q.files() {
		switch {
		case *sql == "":
			t.Errorf("query %s is empty", name)
		case strings.Contains(*sql, "{"):
			t.Errorf("query %s still has a placeholder: %s", name, *sql)
		case !strings.Contains(*sql, `"relay_x".`):
			t.Errorf("query %s does not name the schema", name)
		}
	}
}

func TestMigrationFiles(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("migrations = %v, want a first one with version 1", ms)
	}
	for i, m := range ms {
		if i > 0 && m.version <= ms[i-1].version {
			t.Errorf("migration %s is out of order", m.name)
		}
		if !strings.Contains(m.sql, schemaPlaceholder) {
			t.Errorf("migration %s does not use the %s placeholder", m.name, schemaPlaceholder)
		}
	}
}

func TestMicros(t *testing.T) {
	tests := []struct {
		in   int64 // nanoseconds
		want int64
	}{
		{-5, 0}, {0, 0}, {1, 1}, {999, 1}, {1000, 1}, {1001, 2}, {1_500_000, 1500},
		{math.MaxInt64, math.MaxInt64/1000 + 1}, {math.MaxInt64 - 807, math.MaxInt64 / 1000},
	}
	for _, tt := range tests {
		if got := micros(durationOf(tt.in)); got != tt.want {
			t.Errorf("micros(%dns) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// FuzzValidateSchema checks that every schema name the store accepts is a
// plain identifier that renders into SQL as itself, double-quoted.
func FuzzValidateSchema(f *testing.F) {
	for _, s := range []string{"smsrelay", "a", "_x1", "Upper", "pg_x", `a"b`, "a b", "1a", "", "ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if validateSchema(name) != nil {
			return
		}
		if got := render("{schema}.t", name); got != `"`+name+`".t` {
			t.Fatalf("render of accepted schema %q = %s", name, got)
		}
		if strings.ContainsAny(name, "\"'; \\\x00") || len(name) > 63 || strings.HasPrefix(name, "pg_") {
			t.Fatalf("accepted unsafe schema name %q", name)
		}
	})
}

func durationOf(ns int64) time.Duration { return time.Duration(ns) }
