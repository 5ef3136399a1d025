package httpwasm

import goruntime "runtime"

// goruntimeGC is runtime.GC, under a name that does not clash with the
// package runtime the tests import.
func goruntimeGC() { goruntime.GC() }
