package twiliosms

import (
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// The inbound webhook path normalises two numbers per request, almost
// always already in E.164 form, and libphonenumber's parser (regular
// expressions) is the largest cost of the handler. Two shortcuts keep the
// parser's answers while skipping most of its work: a fast path for North
// American numbers, and a bounded cache of the parser's answers.

// nanpFast answers, without the parser, for a North American number in
// E.164 form: "+1" and ten digits, the first of which is neither 0 nor 1
// (an area code never starts with either). For such a number the parser
// keeps country code 1 and the ten digits as the national number (it would
// strip only a national prefix "1" or a leading 0, which the number does
// not start with), and E.164 formatting writes them back unchanged; the
// possibility check is libphonenumber's own. Anything else returns ok
// false and takes the full path. TestNANPFastAgreesWithParse compares both
// on a large sample.
func nanpFast(s string) (string, bool) {
	if len(s) != 12 || s[0] != '+' || s[1] != '1' || s[2] < '2' || s[2] > '9' {
		return "", false
	}
	for i := 3; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	nn, err := strconv.ParseUint(s[2:], 10, 64)
	if err != nil {
		return "", false
	}
	cc := int32(1)
	num := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}
	if phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		return "", false
	}
	return s, true
}

// numberCacheSize bounds each generation of the cache of normalised
// numbers: at most twice this many entries are kept.
const numberCacheSize = 4096

// numberCache remembers the parser's successful answers, keyed by region
// and input. It keeps two generations: when the current one is full, it
// becomes the previous one and the older is dropped, so that memory stays
// bounded and numbers in steady use stay cached.
type numberCache struct {
	mu        sync.Mutex
	cur, prev map[string]string
}

var normalized numberCache

func (c *numberCache) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[key]; ok {
		return v, true
	}
	if v, ok := c.prev[key]; ok {
		c.putLocked(key, v)
		return v, true
	}
	return "", false
}

func (c *numberCache) put(key, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, v)
}

func (c *numberCache) putLocked(key, v string) {
	if c.cur == nil || len(c.cur) >= numberCacheSize {
		c.prev, c.cur = c.cur, make(map[string]string, numberCacheSize)
	}
	c.cur[key] = v
}

// normalizeNumberCached is normalizeNumber with the fast path and the
// cache in front.
func normalizeNumberCached(s, region string) (string, error) {
	if n, ok := nanpFast(s); ok {
		return n, nil
	}
	key := region + "\x00" + s
	if n, ok := normalized.get(key); ok {
		return n, nil
	}
	n, err := normalizeNumber(s, region)
	if err == nil {
		normalized.put(key, n)
	}
	return n, err
}
