// Package storetest is the conformance suite for implementations of
// [store.Store] and [store.Queue]. Every store shipped with smsrelay passes
// it, and a store you write yourself should pass it before the relay uses it.
//
// It is an ordinary package, not a _test package, so that any module can
// import it from its own tests.
//
// # Running the suite
//
// From a test in your package, call [Run] with a function that returns a
// fresh, empty and isolated backend each time it is called (a new schema, a
// new key prefix, a new in-memory value). The suite calls it once for every
// subtest and runs subtests in parallel, so backends made by different calls
// must not see each other's data. Register any clean-up with t.Cleanup.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Backend {
//			s, err := mystore.Open(t.Context(), dsn, mystore.WithPrefix(uniquePrefix(t)))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Every scenario group is also exported on its own ([TestContacts],
// [TestQueueLeases], [TestQueueConcurrentClaims], ...), so that while you are
// debugging one behaviour you can run only that group:
//
//	func TestLeases(t *testing.T) { storetest.TestQueueLeases(t, newBackend) }
//
// A store that also offers a limiter shared by replicas (as pgstore and
// redisstore do, for Intercom's budget) runs [TestLimiter] on it: no window
// holds more than the budget across replicas, and a Wait ends as its
// context does, failing at once when the next slot lies past its deadline.
//
// # What it checks
//
// The suite checks the rules written in the documentation of package store:
// every method and every sentinel error ([store.ErrNotFound],
// [store.ErrNoJob], [store.ErrDuplicate], [store.ErrLeaseLost], matched with
// errors.Is); argument validation (bad arguments give an error that is none
// of the sentinels, and never a panic); per-key ordering, including retries
// with a delay and dead letters; lease expiry and lease tokens; TTLs of seen
// keys and of de-duplication keys; dead letters, replay and discard; status
// ranks of messages; byte-exact payloads; and concurrent claimers, which must
// never receive the same job twice nor two jobs of one key at once.
//
// Durations at the edge of time.Duration (leases, delays and TTLs near
// math.MaxInt64) must be rejected with an argument error or honoured; one
// that overflows into the past, or into a moment from now, fails.
//
// [TestQueueStress] mixes every queue operation at once, with leases left
// to lapse, and checks each claim against a model of the queue: a single
// holder per key, per-key order, Attempt, LastError, ID and CreatedAt (also
// across Replay), lease tokens never reused, and no job lost.
//
// It also requires that a call made with an already cancelled context fails
// with an error matching [context.Canceled] and changes nothing.
//
// The argument and context checks apply to the backend exactly as your
// function returns it, as a user would call it directly. A store that
// leaves those checks to the checking layer of package store
// ([store.Checked]), because it is only ever used behind it, returns
// store.Checked(s).(storetest.Backend) from the function instead: the
// suite then checks the layer in front of the store, and everything else
// through it. (The layer does not carry a [Replicator] over, so the stress
// scenario then stresses one value.)
//
// # Replicas
//
// A backend on a shared server is used by many processes at once. If the
// backend that your function returns also implements [Replicator], the
// stress scenario spreads its work over three values on the same data: the
// one returned and two made by Replica, each with its own connections.
// Without it, the scenario stresses the single value. For example, with a
// test-only wrapper:
//
//	type replicated struct {
//		*mystore.Store
//		prefix string
//	}
//
//	func (r replicated) Replica(t *testing.T) storetest.Backend {
//		s, err := mystore.Open(t.Context(), dsn, mystore.WithPrefix(r.prefix))
//		if err != nil {
//			t.Fatal(err)
//		}
//		t.Cleanup(func() { s.Close() }) // closes connections, keeps the data
//		return s
//	}
//
// # Timing
//
// Leases, delays and TTLs in the suite are a few hundred milliseconds long,
// and waits poll with generous deadlines, so that a shared backend on a busy
// machine passes while the whole suite still takes a few seconds. A backend
// whose clock resolution is coarser than a millisecond, or which cannot
// express TTLs below a second, will fail; such a backend must round up
// internally.
//
// # Benchmarks
//
// [Bench] runs the same benchmarks against any backend, so that
// implementations can be compared with each other:
//
//	func BenchmarkStore(b *testing.B) {
//		storetest.Bench(b, func(b *testing.B) storetest.Backend { return newBackend(b) })
//	}
package storetest
