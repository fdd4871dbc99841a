// Package loadtest holds the relay's sustained-load test: texts from many
// numbers and agents' replies through the real handlers, on PostgreSQL and
// on Redis, against a fake Intercom that enforces the same budget as the
// relay. It checks that nothing is lost, that each customer's texts and
// replies keep their order, that the fake never answers 429, and reports
// throughput and the process's peak resident memory. The package has no
// API.
//
// By default a reduced run (1,000 texts from 100 numbers, 200 replies) runs
// with the store URLs set. The full run (10,000 texts from 1,000 numbers,
// 2,000 replies) needs SMSRELAY_LOAD_FULL=1:
//
//	SMSRELAY_LOAD_FULL=1 \
//	SMSRELAY_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	SMSRELAY_TEST_REDIS_URL='redis://127.0.0.1:6379/0' \
//	go test -v -count=1 -timeout 30m -run TestSustainedLoad ./internal/loadtest
package loadtest
