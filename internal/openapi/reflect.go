package openapi

import (
	"encoding"
	"encoding/json"
	"path"
	"reflect"
	"strings"
	"time"
)

// Schemas derives schemas of Go types, collecting those of named struct
// types as components that the schemas it returns refer to. Make one with
// NewSchemas; it is not safe for concurrent use.
type Schemas struct {
	defs  map[string]*Schema
	names map[use]string
}

// use is a type as it is encoded, or as it is decoded (input).
type use struct {
	t     reflect.Type
	input bool
}

// inputSuffix ends the names of the schemas of decoded types.
const inputSuffix = "Input"

// NewSchemas returns an empty collection.
func NewSchemas() *Schemas {
	return &Schemas{defs: map[string]*Schema{}, names: map[use]string{}}
}

// Components returns the named schemas collected so far, by name.
func (s *Schemas) Components() map[string]*Schema { return s.defs }

// RefPrefix is where component schemas live in a document.
const RefPrefix = "#/components/schemas/"

// Of returns the schema of the JSON encoding/json makes of a t: a
// reference for a named struct or map type (whose schema joins the
// components), an inline schema otherwise.
//
// Fields follow their json tags: "-" is left out, omitempty makes a field
// optional, every other field is required (encoding/json always writes
// it). Pointers, slices and maps may be null, as a nil one encodes so.
// time.Time is a date-time string, []byte a base64 string, maps are objects
// of their element's schema, and interfaces (and types with their own
// MarshalJSON) accept any value. Structs do not forbid other properties:
// within an API version, fields are only ever added.
func (s *Schemas) Of(t reflect.Type) *Schema { return s.of(t, false) }

// Input returns the schema of the JSON a t is decoded from by a decoder
// that refuses unknown fields: as Of, but no field is required (a field
// not sent keeps its value), structs allow no other properties, and named
// types are components of their own, named with the suffix "Input".
func (s *Schemas) Input(t reflect.Type) *Schema { return s.of(t, true) }

func (s *Schemas) of(t reflect.Type, input bool) *Schema {
	jsonMarshalerType := reflect.TypeFor[json.Marshaler]()
	textMarshalerType := reflect.TypeFor[encoding.TextMarshaler]()
	switch {
	case t == reflect.TypeFor[time.Time]():
		return &Schema{Type: Types{"string"}, Format: "date-time"}
	case t == reflect.TypeFor[json.RawMessage]():
		return &Schema{}
	case t.Kind() != reflect.Pointer && t.Implements(jsonMarshalerType):
		return &Schema{}
	case t.Kind() != reflect.Pointer && t.Implements(textMarshalerType):
		return &Schema{Type: Types{"string"}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(s.of(t.Elem(), input))
	case reflect.Bool:
		return &Schema{Type: Types{"boolean"}}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Schema{Type: Types{"integer"}}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		zero := 0.0
		return &Schema{Type: Types{"integer"}, Minimum: &zero}
	case reflect.Float32, reflect.Float64:
		return &Schema{Type: Types{"number"}}
	case reflect.String:
		return &Schema{Type: Types{"string"}}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !t.Elem().Implements(jsonMarshalerType) && !t.Elem().Implements(textMarshalerType) {
			return &Schema{Type: Types{"string", "null"}, ContentEncoding: "base64"}
		}
		return &Schema{Type: Types{"array", "null"}, Items: s.of(t.Elem(), input)}
	case reflect.Array:
		return &Schema{Type: Types{"array"}, Items: s.of(t.Elem(), input)}
	case reflect.Map:
		if t.Name() == "" {
			return s.dict(t, input)
		}
		return &Schema{Ref: RefPrefix + s.define(use{t, input}, s.dict)}
	case reflect.Struct:
		if t.Name() == "" {
			return s.object(t, input)
		}
		return &Schema{Ref: RefPrefix + s.define(use{t, input}, s.object)}
	}
	// Interfaces, and kinds encoding/json refuses (channels, functions),
	// which no wire type holds.
	return &Schema{}
}

// define adds t's schema, as schemaOf makes it, to the components, once,
// and returns its name.
func (s *Schemas) define(u use, schemaOf func(reflect.Type, bool) *Schema) string {
	if name, ok := s.names[u]; ok {
		return name
	}
	suffix := ""
	if u.input {
		suffix = inputSuffix
	}
	name := u.t.Name() + suffix
	if _, taken := s.defs[name]; taken {
		name = path.Base(u.t.PkgPath()) + "." + name
	}
	s.names[u] = name
	s.defs[name] = &Schema{} // taken now, so recursive types end
	*s.defs[name] = *schemaOf(u.t, u.input)
	return name
}

// dict is the schema of a map: an object of its element's schema.
func (s *Schemas) dict(t reflect.Type, input bool) *Schema {
	return &Schema{Type: Types{"object", "null"}, AdditionalProperties: s.of(t.Elem(), input)}
}

// object is the schema of a struct's fields.
func (s *Schemas) object(t reflect.Type, input bool) *Schema {
	out := &Schema{Type: Types{"object"}, Properties: map[string]*Schema{}}
	if input {
		out.AdditionalProperties = &Schema{Not: &Schema{}}
	}
	s.fields(t, input, out)
	return out
}

// fields adds t's fields to out, those of embedded structs inline as
// encoding/json does.
func (s *Schemas) fields(t reflect.Type, input bool, out *Schema) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				s.fields(ft, input, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		schema := s.of(ft, input)
		if hasOpt(opts, "string") {
			schema = &Schema{Type: Types{"string"}}
		}
		out.Properties[name] = schema
		if !input && !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
			out.Required = append(out.Required, name)
		}
	}
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// nullable lets a schema also accept null.
func nullable(in *Schema) *Schema {
	if len(in.Type) == 0 {
		if in.Ref == "" {
			return in // accepts anything already
		}
		return &Schema{AnyOf: []*Schema{in, {Type: Types{"null"}}}}
	}
	for _, t := range in.Type {
		if t == "null" {
			return in
		}
	}
	out := *in
	out.Type = append(append(Types(nil), in.Type...), "null")
	return &out
}
