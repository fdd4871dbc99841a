package relay

import "github.com/smsrelay/smsrelay/store"

// wakerOf returns q's [store.Waker] capability, nil when it has none: the
// relay's workers then find new jobs by polling alone
// ([Config.PollInterval]). memstore, pgstore and redisstore all have it, so
// a text is picked up as soon as its webhook is answered.
func wakerOf(q store.Queue) store.Waker {
	w, _ := q.(store.Waker)
	return w
}
