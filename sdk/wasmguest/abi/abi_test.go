package abi

import (
	"errors"
	"maps"
	"reflect"
	"testing"
)

// request is a request frame's fields in the order the host writes them.
type request struct {
	method, path, query, host, remote string
	header                            map[string][]string
	body                              []byte
}

func (r request) encode() []byte {
	b := AppendString(nil, r.method)
	b = AppendString(b, r.path)
	b = AppendString(b, r.query)
	b = AppendString(b, r.host)
	b = AppendString(b, r.remote)
	b = AppendHeader(b, r.header)
	return AppendBytes(b, r.body)
}

func decodeRequest(frame []byte) (request, error) {
	d := NewDecoder(frame)
	r := request{method: d.String(), path: d.String(), query: d.String(), host: d.String(), remote: d.String()}
	r.header = d.Header(nil)
	r.body = d.Bytes()
	return r, d.Err()
}

// normal makes empty and nil slices alike, which the frame cannot tell apart.
func normal(r request) request {
	if len(r.body) == 0 {
		r.body = nil
	}
	for k, vs := range r.header {
		if len(vs) == 0 {
			r.header[k] = nil
		}
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	in := request{"POST", "/greet/ada", "x=1", "example", "127.0.0.1:1", map[string][]string{"A": {"1", "2"}, "B": {}}, []byte("body")}
	out, err := decodeRequest(in.encode())
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	for n := range len(in.encode()) {
		if _, err := decodeRequest(in.encode()[:n]); !errors.Is(err, ErrShort) {
			t.Fatalf("a frame cut at %d decoded: %v", n, err)
		}
	}
}

func TestAppendHeaderSet(t *testing.T) {
	tests := []struct {
		name       string
		h          map[string][]string
		key, value string
		want       map[string][]string
	}{
		{"no field", map[string][]string{"A": {"1"}}, "", "", map[string][]string{"A": {"1"}}},
		{"added", map[string][]string{"A": {"1"}}, "B", "2", map[string][]string{"A": {"1"}, "B": {"2"}}},
		{"replaces", map[string][]string{"A": {"1"}, "B": {"x", "y"}}, "B", "2", map[string][]string{"A": {"1"}, "B": {"2"}}},
		{"empty value", nil, "B", "", map[string][]string{"B": {""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.h)
			d := NewDecoder(AppendHeaderSet(nil, tt.h, tt.key, tt.value))
			got := d.Header(nil)
			if d.Err() != nil || len(d.Rest()) != 0 || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v (%v, %d bytes left); want %v", got, d.Err(), len(d.Rest()), tt.want)
			}
			if !reflect.DeepEqual(tt.h, before) {
				t.Fatalf("the header given was changed to %v", tt.h)
			}
		})
	}
}

// FuzzDecodeRequest feeds the request boundary arbitrary frames: decoding
// never panics or reads past the frame, a short frame is ErrShort, and what
// decodes survives encoding and decoding again unchanged.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(request{"GET", "/hello", "", "h", "r", map[string][]string{"X": {"y"}}, nil}.encode())
	f.Add(request{"POST", "/items/1", "a=b", "h", "r", nil, []byte("{}")}.encode())
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(append(AppendU32(nil, 3), "GET"...))
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := decodeRequest(frame)
		if err != nil {
			if !errors.Is(err, ErrShort) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(r.header) > len(frame) {
			t.Fatalf("%d headers from %d bytes", len(r.header), len(frame))
		}
		again, err := decodeRequest(r.encode())
		if err != nil || !reflect.DeepEqual(normal(r), normal(again)) {
			t.Fatalf("re-decoding differs: %+v, %v\nfrom %+v", again, err, r)
		}
	})
}
