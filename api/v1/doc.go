// Package v1 holds the wire types of the plugin host's management API,
// version 1: what /api/plugins/... accepts and returns, the operations a
// caller follows, the events it streams, and the error body every failure
// carries.
//
// The server encodes these types, the Go client decodes them, and the
// ksplugins command prints them, so a field added here reaches all three at
// once. The OpenAPI document served at /api/plugins/openapi.json describes
// the same types.
//
// Within version 1, fields are only ever added: a field is never removed,
// renamed or given another meaning. A client built against an older copy of
// this package keeps working against a newer server. Enumerations grow too:
// a newer server may answer a State, an EventType, an OpState or an error
// code this package does not list, and a client must treat one it does not
// know as "other", not as an error.
package v1

// Version is the version of the API these types describe, as the OpenAPI
// document's info.version gives it.
const Version = "v1"
