package pgstore_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/pgstore"
)

// This example needs a PostgreSQL server, so it is compiled but not run.
// It migrates the schema, makes a Store, and enqueues and works one job.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	// Every replica may run this at start-up; they take turns.
	if err := pgstore.Migrate(ctx, pool, pgstore.WithSchema("smsrelay")); err != nil {
		log.Fatal(err)
	}
	st, err := pgstore.New(pool, pgstore.WithSchema("smsrelay"))
	if err != nil {
		log.Fatal(err)
	}

	_, err = st.Enqueue(ctx, store.NewJob{
		Kind:      "inbound-sms",
		Key:       "+15551234567|+15557654321",
		Payload:   []byte(`{"sid":"SM123"}`),
		DedupeKey: "twilio:SM123",
		DedupeTTL: 24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	job, err := st.Claim(ctx, time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	// ... do the work, then:
	if err := st.Complete(ctx, job); err != nil {
		log.Fatal(err)
	}
}

// This example needs a PostgreSQL server, so it is compiled but not run.
// A host that migrates its database in a separate deployment step checks
// at start-up that the step has run, instead of calling Migrate itself.
func ExampleStore_Check() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	st, err := pgstore.New(pool)
	if err != nil {
		log.Fatal(err)
	}
	if err := st.Check(ctx); err != nil {
		// For example: pgstore: check schema smsrelay: schema version
		// mismatch: migrations 0002_job_keys_due_at.sql not applied; run
		// pgstore.Migrate
		log.Fatal(err)
	}
}
