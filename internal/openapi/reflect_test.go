package openapi

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

type inner struct {
	N int `json:"n"`
}

type embedded struct {
	Flat string `json:"flat"`
}

type sample struct {
	embedded
	Plain    string `json:"plain"`
	Optional string `json:"optional,omitempty"`
	Skipped  string `json:"-"`
	NoTag    bool
	When     time.Time         `json:"when"`
	Maybe    *time.Time        `json:"maybe,omitempty"`
	Child    inner             `json:"child"`
	Ptr      *inner            `json:"ptr"`
	List     []inner           `json:"list"`
	ByKey    map[string]uint64 `json:"by_key"`
	Any      any               `json:"any"`
	Raw      json.RawMessage   `json:"raw"`
	Bytes    []byte            `json:"bytes"`
	Quoted   int               `json:"quoted,string"`
	Self     *sample           `json:"self,omitempty"`
	private  int               // unexported: not encoded
}

func TestOf(t *testing.T) {
	_ = sample{private: 1}
	s := NewSchemas()
	ref := s.Of(reflect.TypeFor[sample]())
	if ref.Ref != RefPrefix+"sample" {
		t.Fatalf("named struct: %+v, want a reference", ref)
	}
	got := s.Components()["sample"]
	zero := 0.0
	str := &Schema{Type: Types{"string"}}
	want := map[string]*Schema{
		"flat":     str,
		"plain":    str,
		"optional": str,
		"NoTag":    {Type: Types{"boolean"}},
		"when":     {Type: Types{"string"}, Format: "date-time"},
		"maybe":    {Type: Types{"string", "null"}, Format: "date-time"},
		"child":    {Ref: RefPrefix + "inner"},
		"ptr":      {AnyOf: []*Schema{{Ref: RefPrefix + "inner"}, {Type: Types{"null"}}}},
		"list":     {Type: Types{"array", "null"}, Items: &Schema{Ref: RefPrefix + "inner"}},
		"by_key":   {Type: Types{"object", "null"}, AdditionalProperties: &Schema{Type: Types{"integer"}, Minimum: &zero}},
		"any":      {},
		"raw":      {},
		"bytes":    {Type: Types{"string", "null"}, ContentEncoding: "base64"},
		"quoted":   str,
		"self":     {AnyOf: []*Schema{{Ref: RefPrefix + "sample"}, {Type: Types{"null"}}}},
	}
	if len(got.Properties) != len(want) {
		t.Errorf("properties %d, want %d", len(got.Properties), len(want))
	}
	for name, w := range want {
		if g := got.Properties[name]; !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("%s: %s, want %s", name, gj, wj)
		}
	}
	wantRequired := []string{"flat", "plain", "NoTag", "when", "child", "ptr", "list", "by_key", "any", "raw", "bytes", "quoted"}
	if !reflect.DeepEqual(got.Required, wantRequired) {
		t.Errorf("required %q, want %q", got.Required, wantRequired)
	}
	if _, ok := s.Components()["inner"]; !ok {
		t.Error("inner is not a component")
	}
}

// TestNameClash: two types of one name from two packages get two names.
func TestNameClash(t *testing.T) {
	s := NewSchemas()
	a := s.Of(reflect.TypeFor[Info]())
	type Info struct{ X int }
	b := s.Of(reflect.TypeFor[Info]())
	if a.Ref == b.Ref {
		t.Fatalf("both are %s", a.Ref)
	}
	if again := s.Of(reflect.TypeFor[Info]()); again.Ref != b.Ref {
		t.Errorf("the same type named twice: %s, %s", b.Ref, again.Ref)
	}
}

func TestTypesJSON(t *testing.T) {
	for _, tt := range []struct {
		in   Types
		want string
	}{{Types{"string"}, `"string"`}, {Types{"array", "null"}, `["array","null"]`}} {
		data, err := json.Marshal(tt.in)
		if err != nil || string(data) != tt.want {
			t.Errorf("%v: %s %v, want %s", tt.in, data, err, tt.want)
		}
		var back Types
		if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, tt.in) {
			t.Errorf("%s read back as %v %v", data, back, err)
		}
	}
}

// TestInput: the schema of a decoded type requires nothing, refuses other
// properties, and is a component of its own beside the encoded one.
func TestInput(t *testing.T) {
	s := NewSchemas()
	out := s.Of(reflect.TypeFor[inner]())
	in := s.Input(reflect.TypeFor[sample]())
	if in.Ref != RefPrefix+"sampleInput" || out.Ref != RefPrefix+"inner" {
		t.Fatalf("refs %s, %s", in.Ref, out.Ref)
	}
	got := s.Components()["sampleInput"]
	if len(got.Required) != 0 {
		t.Errorf("required %q, want none", got.Required)
	}
	if got.AdditionalProperties == nil || got.AdditionalProperties.Not == nil {
		t.Errorf("other properties allowed: %+v", got.AdditionalProperties)
	}
	if child := got.Properties["child"]; child.Ref != RefPrefix+"innerInput" {
		t.Errorf("child: %+v, want the input schema of inner", child)
	}
	if enc := s.Components()["inner"]; len(enc.Required) != 1 || enc.AdditionalProperties != nil {
		t.Errorf("the encoded schema changed: %+v", enc)
	}
}
