//go:build wasip1

package main

import "github.com/kubestellar/ksplugins/sdk/wasmguest"

func init() { wasmguest.Serve(NewPlugin) }

func main() {}
