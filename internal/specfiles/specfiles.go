// Package specfiles locates the API descriptions and test vectors that the
// project's tests check the code against. They live beside the repository,
// in ../shared/specs, not in it; a test that needs them skips, saying so,
// when they are absent.
package specfiles

import (
	"os"
	"path/filepath"
	"testing"
)

// Path returns the file or directory elem... below ../shared/specs (relative
// to the directory holding go.mod), or skips tb with a message saying what
// is missing.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("specs not found: no go.mod above the test directory, so ../shared/specs cannot be located; skipping")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared", "specs"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("spec file %s not found (the specs live beside the repository, in ../shared/specs); skipping", p)
	}
	return p
}
