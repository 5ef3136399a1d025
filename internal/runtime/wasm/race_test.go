//go:build race

package wasm

// raceEnabled: the race detector keeps shadow memory for every heap range
// the process touched, so the resident set does not shrink after a free.
const raceEnabled = true
