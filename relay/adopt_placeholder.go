package relay

import "context"

// adoptContact records that contact from of customer phone (bare E.164, as
// bareNumber gives) is now into.
//
// PLACEHOLDER of the identity bridge's branch: the merges branch brings the
// real adoptContact (relay/merge.go), which also updates whatever else
// keeps from; the lead deletes this file when merging the two.
func (r *Relay) adoptContact(ctx context.Context, phone, from, into string) error {
	_ = from
	return r.st.SetContact(ctx, phone, into)
}
