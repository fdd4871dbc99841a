package pgstore

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The SQL of the store lives in .sql files embedded in the binary: the
// schema migrations under migrations/, one statement per file under
// queries/. Each file names tables as {schema}.table; the placeholder is
// replaced with the quoted schema name when a Store is made.
//
//go:embed migrations/*.sql queries/*.sql
var sqlFiles embed.FS

const schemaPlaceholder = "{schema}"

// schemaName matches the schema names WithSchema accepts: a lower-case SQL
// identifier that needs no quoting and fits PostgreSQL's 63-byte limit.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func validateSchema(name string) error {
	if !schemaName.MatchString(name) {
		return fmt.Errorf("pgstore: invalid schema name %q: want 1 to 63 characters of a-z, 0-9 and _, not starting with a digit", name)
	}
	if strings.HasPrefix(name, "pg_") {
		return fmt.Errorf("pgstore: invalid schema name %q: names starting with pg_ are reserved by PostgreSQL", name)
	}
	return nil
}

// render replaces the schema placeholder in sql with the quoted schema name.
func render(sql, schema string) string {
	return strings.ReplaceAll(sql, schemaPlaceholder, pgx.Identifier{schema}.Sanitize())
}

// queries holds the statements of one Store, rendered for its schema.
type queries struct {
	contact, setContact, deleteContact                    string
	thread, putThread, deleteThread, threadByConversation string
	putMessage, message, advanceMessageStatus             string
	marked, mark                                          string
	setOptedOut, clearOptedOut, optedOut                  string
	markSeen, sweepSeen                                   string

	enqueue, claim, lockKey, extend, complete, retry, deadLetter, dropKey string
	deadLetters, deadLetterKey, replay, discard, stats                    string
	kindStats                                                             string

	admitBudget string
}

// files maps each file under queries/ (without .sql) to its field.
func (q *queries) files() map[string]*string {
	return map[string]*string{
		"contact":                &q.contact,
		"set_contact":            &q.setContact,
		"delete_contact":         &q.deleteContact,
		"thread":                 &q.thread,
		"put_thread":             &q.putThread,
		"delete_thread":          &q.deleteThread,
		"thread_by_conversation": &q.threadByConversation,
		"put_message":            &q.putMessage,
		"message":                &q.message,
		"advance_message_status": &q.advanceMessageStatus,
		"marked":                 &q.marked,
		"mark":                   &q.mark,
		"set_opted_out":          &q.setOptedOut,
		"clear_opted_out":        &q.clearOptedOut,
		"opted_out":              &q.optedOut,
		"mark_seen":              &q.markSeen,
		"sweep_seen":             &q.sweepSeen,
		"enqueue":                &q.enqueue,
		"claim":                  &q.claim,
		"lock_key":               &q.lockKey,
		"extend":                 &q.extend,
		"complete":               &q.complete,
		"retry":                  &q.retry,
		"dead_letter":            &q.deadLetter,
		"drop_key":               &q.dropKey,
		"dead_letters":           &q.deadLetters,
		"dead_letter_key":        &q.deadLetterKey,
		"replay":                 &q.replay,
		"discard":                &q.discard,
		"stats":                  &q.stats,
		"kind_stats":             &q.kindStats,
		"admit_budget":           &q.admitBudget,
	}
}

func loadQueries(schema string) (*queries, error) {
	q := new(queries)
	for name, dst := range q.files() {
		b, err := sqlFiles.ReadFile("queries/" + name + ".sql")
		if err != nil {
			return nil, fmt.Errorf("pgstore: load query %s: %w", name, err)
		}
		*dst = render(string(b), schema)
	}
	return q, nil
}

// migration is one versioned schema change.
type migration struct {
	version int
	name    string // file name
	sql     string // not yet rendered
}

// loadMigrations returns the embedded migrations in version order. File
// names are NNNN_description.sql; versions must be unique and positive.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(sqlFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("pgstore: list migrations: %w", err)
	}
	var ms []migration
	seen := make(map[int]string)
	for _, e := range entries {
		name := e.Name()
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("pgstore: migration file %q is not named NNNN_description.sql", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("pgstore: migrations %q and %q share version %d", other, name, v)
		}
		seen[v] = name
		b, err := sqlFiles.ReadFile("migrations/" + name)
		if err != nil {
			return nil, fmt.Errorf("pgstore: read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}
