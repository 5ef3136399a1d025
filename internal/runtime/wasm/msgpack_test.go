package wasm

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin/render"
)

// TestMsgPackWithoutFastPaths checks that a sandboxed plugin built with
// build.SandboxedTags, whose msgpack codec lacks the generated fast paths,
// reads and writes msgpack as the host, built with them, does: hostile
// decodes what the host encoded and encodes it again, byte for byte.
func TestMsgPackWithoutFastPaths(t *testing.T) {
	// hostile's msgpackRecord, field for field.
	type record struct {
		Ints  []int
		Names []string
		Flags map[string]bool  // one key: the codec writes maps in Go's order
		Sizes map[string]int64 // likewise
	}
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile"})
	start(t, p, nil)
	e := router(t, p)
	for _, v := range []record{
		{},
		{Ints: []int{1, -2, 300, 1 << 40}, Names: []string{"a", "", "ünïcode"}, Flags: map[string]bool{"on": true}, Sizes: map[string]int64{"big": -1 << 50}},
	} {
		host := httptest.NewRecorder()
		if err := (render.MsgPack{Data: v}).Render(host); err != nil {
			t.Fatal(err)
		}
		w := do(e, http.MethodPost, "/msgpack", host.Body.Bytes())
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), host.Body.Bytes()) {
			t.Errorf("%+v: the guest answered %d %x; the host encodes %x", v, w.Code, w.Body.Bytes(), host.Body.Bytes())
		}
	}
}
