package pgstore

import (
	"context"
	"time"
)

// WaitAt is Wait that also returns the database time of the admission.
func (l *Limiter) WaitAt(ctx context.Context) (time.Time, error) { return l.wait(ctx) }
