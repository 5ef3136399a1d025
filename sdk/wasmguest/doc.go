// Package wasmguest runs a plugin inside the sandboxed tier: the plugin's own
// source, built with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared and loaded
// by the host's wazero runtime.
//
// Plugin authors never import it. For a sandboxed build the builder adds one
// file to the plugin's package main:
//
//	//go:build wasip1
//
//	package main
//
//	import "github.com/kubestellar/ksplugins/sdk/wasmguest"
//
//	func init() { wasmguest.Serve(NewPlugin) }
//
//	func main() {}
//
// Serve keeps the plugin; the package's //go:wasmexport functions then let
// the host drive it through the lifecycle of sdk.KubestellarPlugin and serve
// requests with the plugin's own gin handlers. The boundary is described in
// package [github.com/kubestellar/ksplugins/sdk/wasmguest/abi].
//
// Inside the guest:
//   - One gin engine (release mode) is built on the first request from
//     GetMetadata().Endpoints and GetHandlers(); every matched request first
//     passes the plugin's ValidateRequest (an error answers 400).
//   - One http.Request, header map and response buffer are reused for every
//     request, which is what makes a call cost microseconds rather than tens
//     of them. A handler must therefore not keep the request, its header or
//     its body after it returns.
//   - A panic in a handler is not recovered: it ends the instance and the
//     host answers 500 and starts a fresh one. A panic in a lifecycle method
//     is reported to the host as that method's error.
//   - http.DefaultTransport and http.DefaultClient send requests through the
//     host, which applies the plugin's network grant and allowed hosts; so
//     does any http.Client without its own Transport.
//   - A plugin that implements sdk.KubernetesUser receives an sdk.Kubernetes
//     before Validate, as in the native tier; its transports send requests
//     to the host, which mediates them under the plugin's Kubernetes grant
//     (network grant not needed), so sdk/kube works unchanged. A watch
//     streams, within the call that opened it.
//   - Goroutines run only while the host calls in. A goroutine a call
//     leaves behind (beyond those package initialisation left) is
//     background work: the host gives the instance turns (ksp_background)
//     while it is idle, so such a goroutine progresses between requests,
//     its timers firing late by up to the host's gap between turns.
//   - os.Args is the plugin's id alone.
//   - Standard output and standard error go to the host's log.
//
// Everything but this documentation builds only for wasip1.
package wasmguest
