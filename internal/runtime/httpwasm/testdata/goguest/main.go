//go:build wasip1

// Command goguest is an http-wasm handler in standard Go, without the
// ksplugins SDK: built with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, it
// exports the interface with //go:wasmexport and imports the host's
// functions with //go:wasmimport. Unlike most http-wasm guests it imports
// WASI (the Go runtime needs it), sched_yield included.
//
//	/spin     loops forever
//	otherwise "go <METHOD> <URI>", 201 for POST, header X-Guest: go
package main

import "unsafe"

//go:wasmimport http_handler get_method
func getMethod(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_uri
func getURI(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler write_body
func writeBody(kind uint32, body unsafe.Pointer, bodyLen uint32)

//go:wasmimport http_handler set_status_code
func setStatusCode(code uint32)

const response = 1

func main() {}

// get calls a getter twice: for the length, then to copy.
func get(fn func(unsafe.Pointer, uint32) uint32) string {
	n := fn(nil, 0)
	if n == 0 {
		return ""
	}
	b := make([]byte, n)
	fn(unsafe.Pointer(&b[0]), n)
	return string(b)
}

//go:wasmexport handle_request
func handleRequest() uint64 {
	method, uri := get(getMethod), get(getURI)
	if uri == "/spin" {
		for {
		}
	}
	name, value := []byte("X-Guest"), []byte("go")
	setHeaderValue(response, unsafe.Pointer(&name[0]), uint32(len(name)), unsafe.Pointer(&value[0]), uint32(len(value)))
	if method == "POST" {
		setStatusCode(201)
	}
	body := []byte("go " + method + " " + uri)
	writeBody(response, unsafe.Pointer(&body[0]), uint32(len(body)))
	return 0
}

//go:wasmexport handle_response
func handleResponse(reqCtx, isError uint32) {}
