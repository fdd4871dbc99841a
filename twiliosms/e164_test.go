package twiliosms

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestNANPFastAgreesWithParse checks the fast path against the parser on
// every area-code and exchange shape: 100,000 random +1 numbers, most of
// them of the ordinary length and the rest of 9 to 13 digits after the
// "+", plus edge cases. Wherever the fast path answers, the
// parser must give the same answer; and the fast path must answer for the
// ordinary well-formed numbers it exists for.
func TestNANPFastAgreesWithParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	inputs := []string{"+14155550100", "+12025550123", "+10005550100", "+11005550100", "+1415555010", "+141555501000", "+1415555O100", "+19999999999", "+12000000000"}
	for range 100_000 {
		n := 11 // mostly the ordinary length, "+1" and ten digits
		if rng.IntN(4) == 0 {
			n = 9 + rng.IntN(5)
		}
		b := []byte{'+', '1'}
		for range n - 1 {
			b = append(b, byte('0'+rng.IntN(10)))
		}
		inputs = append(inputs, string(b))
	}
	answered, wellFormed := 0, 0
	for _, in := range inputs {
		if len(in) == 12 && in[2] >= '2' {
			wellFormed++
		}
		fast, ok := nanpFast(in)
		if !ok {
			continue
		}
		answered++
		for _, region := range []string{"", "US", "GB"} {
			full, err := normalizeNumber(in, region)
			if err != nil || full != fast {
				t.Fatalf("%s (region %q): fast path %q, parser %q, %v", in, region, fast, full, err)
			}
		}
	}
	// Some well-formed numbers are not possible ones (the parser then says
	// why); most are.
	if answered < wellFormed*3/4 {
		t.Errorf("the fast path answered for %d of %d well-formed numbers; it should take most", answered, wellFormed)
	}
	if _, ok := nanpFast("+14155550100"); !ok {
		t.Error("the fast path did not take +14155550100")
	}
	t.Logf("the fast path answered for %d of %d inputs (%d well-formed)", answered, len(inputs), wellFormed)
}

// TestNormalizeCacheAgreesAndStaysBounded normalises numbers of many
// countries twice (the second time from the cache) and checks the answers
// match the parser's, and that the cache never holds more than two
// generations.
func TestNormalizeCacheAgreesAndStaysBounded(t *testing.T) {
	for i := range 3 * numberCacheSize {
		in := fmt.Sprintf("+4420%08d", i)
		want, wantErr := normalizeNumber(in, "")
		for range 2 {
			got, err := normalizeNumberCached(in, "")
			if got != want || (err == nil) != (wantErr == nil) {
				t.Fatalf("%s: cached path %q, %v; parser %q, %v", in, got, err, want, wantErr)
			}
		}
	}
	normalized.mu.Lock()
	defer normalized.mu.Unlock()
	if n := len(normalized.cur) + len(normalized.prev); n > 2*numberCacheSize {
		t.Errorf("the cache holds %d entries, more than 2×%d", n, numberCacheSize)
	}
}

func BenchmarkNormalizeAddress(b *testing.B) {
	for _, tc := range []struct{ name, addr string }{
		{"NANP", "+14155550100"},
		{"GB", "+447700900123"},
		{"national", "(415) 555-0100"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NormalizeAddress(tc.addr, "US"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
