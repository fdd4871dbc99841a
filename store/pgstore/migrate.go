package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrate brings the store's schema (default [DefaultSchema], or the one
// given by [WithSchema]) up to date: it creates the schema if it does not
// exist and applies, in order, every embedded migration not yet recorded in
// the schema's schema_migrations table. It accepts the same options as
// [New]; only [WithSchema] and [WithLogger] matter here.
//
// Migrate refuses, with an error wrapping [ErrSchemaVersion], a schema that
// has migrations applied that this version of the package does not know:
// the schema was migrated by a newer version, whose tables this one may
// misread. Run the newer version instead.
//
// Migrate is idempotent and safe to call from several replicas at once:
// everything runs in one transaction that first takes a transaction-level
// advisory lock derived from the schema name, so concurrent callers wait
// for each other and find the work done. A failing migration rolls back
// all of it.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...Option) error {
	if pool == nil {
		return errors.New("pgstore: migrate: nil pool")
	}
	c, err := newConfig(opts)
	if err != nil {
		return err
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	schema := c.schema
	quoted := pgx.Identifier{schema}.Sanitize()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey(schema)); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		// Create the schema only when missing, so that a role without the
		// CREATE privilege on the database can use a schema made for it.
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
			return fmt.Errorf("look up schema: %w", err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA "+quoted); err != nil {
				return fmt.Errorf("create schema: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+quoted+`.schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied, err := appliedVersions(ctx, tx, schema)
		if err != nil {
			return err
		}
		done := make(map[int]bool, len(applied))
		for _, v := range applied {
			done[v] = true
		}
		if unknown := unknownVersions(applied, ms); len(unknown) > 0 {
			return newerSchemaError(unknown)
		}
		for _, m := range ms {
			if done[m.version] {
				continue
			}
			// No arguments: pgx uses the simple protocol, which runs a
			// file of several statements.
			if _, err := tx.Exec(ctx, render(m.sql, schema)); err != nil {
				return fmt.Errorf("apply %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+quoted+".schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return fmt.Errorf("record %s: %w", m.name, err)
			}
			c.log.InfoContext(ctx, "pgstore: applied migration", "schema", schema, "migration", m.name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: migrate schema %s: %w", schema, err)
	}
	return nil
}

// migrationLockKey is the advisory lock key that serialises migrations of
// one schema: a hash of a fixed prefix and the schema name, so that it is
// unlikely to collide with the host's own advisory locks.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("smsrelay/pgstore migrate\x00" + schema))
	return int64(h.Sum64())
}

// ErrSchemaVersion is wrapped by the errors of [Migrate] and [Store.Check]
// when the schema's applied migrations do not match the ones this version
// of the package embeds: some are missing (run [Migrate]) or some are
// unknown (the schema was migrated by a newer version of the package).
var ErrSchemaVersion = errors.New("schema version mismatch")

// Check verifies that the store's schema has exactly the migrations this
// version of the package needs, so that a host can fail fast at start-up
// instead of at the first Claim. It returns an error wrapping
// [ErrSchemaVersion] when the schema is missing, lacks migrations (run
// [Migrate] with the same [WithSchema] option) or has migrations this
// version does not know (it was migrated by a newer version). [New] does no
// I/O; Check is the call that looks at the database. It changes nothing.
func (s *Store) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: check: %w", err)
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	var exists bool
	table := pgx.Identifier{s.schema, "schema_migrations"}.Sanitize()
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
		return fmt.Errorf("pgstore: check schema %s: %w", s.schema, err)
	}
	if !exists {
		return fmt.Errorf("pgstore: check schema %s: %w: the schema is not migrated; run pgstore.Migrate with the same schema", s.schema, ErrSchemaVersion)
	}
	applied, err := appliedVersions(ctx, s.pool, s.schema)
	if err != nil {
		return fmt.Errorf("pgstore: check schema %s: %w", s.schema, err)
	}
	if unknown := unknownVersions(applied, ms); len(unknown) > 0 {
		return fmt.Errorf("pgstore: check schema %s: %w", s.schema, newerSchemaError(unknown))
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		done[v] = true
	}
	var missing []string
	for _, m := range ms {
		if !done[m.version] {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("pgstore: check schema %s: %w: migrations %s not applied; run pgstore.Migrate", s.schema, ErrSchemaVersion, strings.Join(missing, ", "))
	}
	return nil
}

// queryer is what appliedVersions reads with: a pgx.Tx or a pool.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// appliedVersions returns the versions recorded in the schema's
// schema_migrations table, which must exist.
func appliedVersions(ctx context.Context, db queryer, schema string) ([]int, error) {
	rows, err := db.Query(ctx, "SELECT version FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = int(v)
	}
	return out, nil
}

// unknownVersions returns the applied versions that no embedded migration
// has.
func unknownVersions(applied []int, ms []migration) []int {
	known := make(map[int]bool, len(ms))
	for _, m := range ms {
		known[m.version] = true
	}
	var unknown []int
	for _, v := range applied {
		if !known[v] {
			unknown = append(unknown, v)
		}
	}
	return unknown
}

// newerSchemaError reports applied migrations this version does not know.
func newerSchemaError(unknown []int) error {
	return fmt.Errorf("%w: migrations %v are applied that this version of pgstore does not know; the schema was migrated by a newer version, so run that version (or a newer one)", ErrSchemaVersion, unknown)
}
