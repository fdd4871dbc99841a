package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrate brings the store's schema (default [DefaultSchema], or the one
// given by [WithSchema]) up to date: it creates the schema if it does not
// exist and applies, in order, every embedded migration not yet recorded in
// the schema's schema_migrations table. It accepts the same options as
// [New]; only [WithSchema] and [WithLogger] matter here.
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
		rows, err := tx.Query(ctx, "SELECT version FROM "+quoted+".schema_migrations")
		if err != nil {
			return fmt.Errorf("read applied migrations: %w", err)
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("read applied migrations: %w", err)
		}
		done := make(map[int]bool, len(applied))
		for _, v := range applied {
			done[int(v)] = true
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
