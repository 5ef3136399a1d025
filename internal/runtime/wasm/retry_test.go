package wasm

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	failing := errors.New("no start")
	tests := []struct {
		name      string
		failures  int // errors before nil; -1: never nil
		cancel    bool
		wantTries int
	}{
		{"first try", 0, false, 1},
		{"after two failures", 2, false, 3},
		{"until the context ends", -1, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tries := 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				Retry(ctx, slog.New(slog.DiscardHandler), "retrying", func() error {
					tries++
					if tt.failures < 0 || tries <= tt.failures {
						return failing
					}
					return nil
				})
			}()
			if tt.cancel {
				cancel()
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Retry did not return")
			}
			if tries != tt.wantTries {
				t.Errorf("tries = %d, want %d", tries, tt.wantTries)
			}
		})
	}
}
