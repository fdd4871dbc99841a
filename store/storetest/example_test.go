package storetest_test

import (
	"testing"

	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/store/storetest"
)

// Run is called from a test of the package that implements the store. The
// function it is given makes a fresh, empty backend for every subtest; a
// backend on a shared server would use a new schema or key prefix each time
// and drop it in t.Cleanup.
func ExampleRun() {
	newBackend := func(t *testing.T) storetest.Backend {
		return memstore.New()
	}

	// In mystore_test.go:
	//
	//	func TestConformance(t *testing.T) {
	//		storetest.Run(t, newBackend)
	//	}
	_ = newBackend
}
