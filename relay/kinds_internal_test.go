package relay

import (
	"maps"
	"slices"
	"testing"
)

// TestKindsAreTheRegistry: the kinds the operator API accepts (Kinds) are
// exactly the kinds the relay runs, so that no kind's dead letters are out
// of an operator's reach.
func TestKindsAreTheRegistry(t *testing.T) {
	var r Relay
	registry := slices.Sorted(maps.Keys(r.handlers()))
	listed := slices.Sorted(slices.Values(Kinds()))
	if !slices.Equal(registry, listed) {
		t.Fatalf("Kinds() = %v, the registry runs %v", listed, registry)
	}
}
