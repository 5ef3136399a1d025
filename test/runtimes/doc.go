// Package runtimes runs one sandboxed guest (a plugin built for wasip1 with
// package wasmguest) under two WebAssembly runtimes, wazero and wasmtime,
// each with and without the interruption that keeps a call's timeout
// enforceable, so that the price of that interruption can be measured on
// the same code.
//
// It is a measurement, not part of the host: the host runs wazero
// (internal/runtime/wasm). It lives in a module of its own because
// wasmtime's Go binding links a large native library through cgo.
//
// Both runtimes start an instance as the host does: _initialize, the
// OpSetup envelope, the first ksp_background call when the module exports
// it, then the lifecycle calls a plugin receives before it serves. The
// host module's imports are stubs that trap: the guests measured here never
// reach the network.
package runtimes
