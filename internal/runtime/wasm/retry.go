package wasm

import (
	"context"
	"log/slog"
	"time"
)

// The waits of Retry: the first, and the longest its doubling reaches.
const (
	firstRetry = 100 * time.Millisecond
	lastRetry  = 10 * time.Second
)

// Retry calls try until it returns nil or ctx ends, logging each error as
// msg and waiting between tries, from firstRetry doubling up to lastRetry.
// Both WebAssembly tiers start the replacement of a lost instance this way.
// try returns nil when there is nothing more to try, whether it succeeded
// or found no point in going on.
func Retry(ctx context.Context, log *slog.Logger, msg string, try func() error) {
	delay := firstRetry
	for {
		err := try()
		if err == nil {
			return
		}
		log.Error(msg, "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, lastRetry)
	}
}
