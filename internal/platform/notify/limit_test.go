package notify

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	type step struct {
		at      time.Duration // since t0
		maxWait time.Duration
		wait    time.Duration
		ok      bool
		cancel  bool // give the token back after reserving
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{
			name: "burst then spaced", rate: 2, burst: 2,
			steps: []step{
				{at: 0, maxWait: time.Second, wait: 0, ok: true},
				{at: 0, maxWait: time.Second, wait: 0, ok: true},
				{at: 0, maxWait: time.Second, wait: 500 * time.Millisecond, ok: true},
				{at: 0, maxWait: time.Second, wait: time.Second, ok: true},
				{at: 0, maxWait: time.Second, ok: false},
			},
		},
		{
			name: "refills over time, never above burst", rate: 1, burst: 1,
			steps: []step{
				{at: 0, maxWait: 0, wait: 0, ok: true},
				{at: 0, maxWait: 0, ok: false},
				{at: time.Hour, maxWait: 0, wait: 0, ok: true},
				{at: time.Hour, maxWait: 0, ok: false},
			},
		},
		{
			name: "zero burst means one", rate: 1, burst: 0,
			steps: []step{
				{at: 0, maxWait: 0, wait: 0, ok: true},
				{at: 0, maxWait: 0, ok: false},
			},
		},
		{
			name: "cancel gives the token back", rate: 1, burst: 1,
			steps: []step{
				{at: 0, maxWait: 0, wait: 0, ok: true, cancel: true},
				{at: 0, maxWait: 0, wait: 0, ok: true},
			},
		},
		{
			name: "clock going backwards earns nothing", rate: 1, burst: 1,
			steps: []step{
				{at: time.Second, maxWait: 0, wait: 0, ok: true},
				{at: 0, maxWait: 0, ok: false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucket(tt.rate, tt.burst, t0)
			for i, s := range tt.steps {
				wait, ok := b.reserve(t0.Add(s.at), s.maxWait)
				if ok != s.ok || wait != s.wait {
					t.Fatalf("step %d: reserve = %v, %v; want %v, %v", i, wait, ok, s.wait, s.ok)
				}
				if s.cancel {
					b.cancel(t0.Add(s.at))
				}
			}
		})
	}
}
