package main

import (
	"slices"
	"testing"
)

func TestPrimesPerBlock(t *testing.T) {
	tests := []struct {
		limit, block int
		want         []int
	}{
		{10, 10, []int{4}},
		{100, 25, []int{9, 6, 6, 4}},
		{1000, 100, []int{25, 21, 16, 16, 17, 14, 16, 14, 15, 14}},
		{11, 5, []int{2, 2, 0}},
	}
	for _, tc := range tests {
		if got := primesPerBlock(tc.limit, tc.block); !slices.Equal(got, tc.want) {
			t.Errorf("primesPerBlock(%d, %d) = %v, want %v", tc.limit, tc.block, got, tc.want)
		}
	}
}
