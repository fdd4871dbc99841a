package intercom

import "time"

// SetClock replaces c's clock, for the tests of package intercom_test.
func SetClock(c *Client, now func() time.Time) { c.now = now }
