package runtime

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestContain(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name  string
		fn    func() int
		want  int
		check func(error) bool
	}{
		{"returns", func() int { return 7 }, 7, func(err error) bool { return err == nil }},
		{"panics", func() int { panic("boom") }, 0, func(err error) bool {
			p, ok := errors.AsType[*PanicError](err)
			return ok && p.Value == "boom" && p.Stack != ""
		}},
		{"hangs", func() int { <-release; return 1 }, 0, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := Contain(context.Background(), 50*time.Millisecond, tt.fn)
			if got != tt.want || !tt.check(err) {
				t.Fatalf("Contain = %d, %v", got, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %s past a 50ms limit", d)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Contain(ctx, time.Minute, func() int { <-release; return 1 }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
}
