package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

func TestResolveToken(t *testing.T) {
	withFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(withFile, "admin.token"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "admin.token"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		flag    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "flag first", flag: "from-flag", env: map[string]string{"KSPLUGINS_TOKEN": "from-env", "KSPLUGINS_DATA_DIR": withFile}, want: "from-flag"},
		{name: "env next", env: map[string]string{"KSPLUGINS_TOKEN": "from-env", "KSPLUGINS_DATA_DIR": withFile}, want: "from-env"},
		{name: "then the file", env: map[string]string{"KSPLUGINS_DATA_DIR": withFile}, want: "from-file"},
		{name: "empty file", env: map[string]string{"KSPLUGINS_DATA_DIR": empty}, wantErr: "is empty"},
		{name: "nothing", env: map[string]string{"KSPLUGINS_DATA_DIR": filepath.Join(empty, "none")}, wantErr: "pass --token, set KSPLUGINS_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveToken(tt.flag, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParsePairs(t *testing.T) {
	got, err := parsePairs([]string{"n=42", "on=true", "name=ada", "q=\"7\"", "list=[1,\"a\"]", "obj={\"k\":1}", "eq=a=b", "bad=[1,", "two=1 2", "empty="})
	if err != nil {
		t.Fatal(err)
	}
	want := apiv1.ConfigValues{
		"n": json.Number("42"), "on": true, "name": "ada", "q": "7",
		"list": []any{json.Number("1"), "a"}, "obj": map[string]any{"k": json.Number("1")},
		"eq": "a=b", "bad": "[1,", "two": "1 2", "empty": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	for _, bad := range []string{"novalue", "=x"} {
		if _, err := parsePairs([]string{bad}); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestOverrides(t *testing.T) {
	effective := map[string]any{"a": json.Number("1"), "b": "set", "c": []any{"x"}, "extra": true}
	defaults := map[string]any{"a": json.Number("1"), "b": "default", "c": []any{"x"}}
	want := apiv1.ConfigValues{"b": "set", "extra": true}
	if got := overrides(effective, defaults); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestIsArchive(t *testing.T) {
	for src, want := range map[string]bool{
		"p.zip": true, "p.tar.gz": true, "P.TGZ": true, "./plugins/hello": false, "hello.so": false,
		"https://example.com/p.zip": false, "https://github.com/o/r": false,
	} {
		if got := isArchive(src); got != want {
			t.Errorf("isArchive(%q) = %v", src, got)
		}
	}
}

// runClient runs a client command against srv and returns its output.
func runClient(t *testing.T, srv *httptest.Server, args ...string) (string, string, error) {
	t.Helper()
	root := &cobra.Command{Use: "ksplugins", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(clientCommands()...)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--server", srv.URL, "--token", "tok"))
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestInstallAndList(t *testing.T) {
	dir := t.TempDir()
	var (
		mu    sync.Mutex
		polls int
		sent  apiv1.LoadRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"invalid token"}}`))
			return
		}
		step := func(name, state, took string) string {
			s := `{"name":"` + name + `","state":"` + state + `","started_at":"2026-01-01T00:00:00Z"`
			if took != "" {
				s += `,"finished_at":"2026-01-01T00:00:` + took + `Z"`
			}
			return s + "}"
		}
		switch r.Method + " " + r.URL.Path {
		case "POST /api/plugins/load":
			_ = json.NewDecoder(r.Body).Decode(&sent)
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"op-1","state":"running","steps":[]}`))
		case "GET /api/plugins/operations/op-1":
			polls++
			if polls == 1 {
				_, _ = w.Write([]byte(`{"id":"op-1","state":"running","steps":[` + step("fetching", "running", "") + `]}`))
				return
			}
			if sent.Version == "bad" {
				_, _ = w.Write([]byte(`{"id":"op-1","state":"failed","status":422,"steps":[` + step("fetching", "done", "00.1") + `,` + step("building", "failed", "01.5") + `],
					"error":{"code":"build_failed","message":"build /x: a.go:1:1: nope; b.go:2:2: worse","details":{"diagnostics":["a.go:1:1: nope","b.go:2:2: worse"]}}}`))
				return
			}
			_, _ = w.Write([]byte(`{"id":"op-1","state":"succeeded","warnings":["unsigned"],"steps":[` + step("fetching", "done", "00.1") + `,` + step("building", "done", "03.2") + `],
				"result":{"id":"my-plugin","version":"1.0.0","state":"active","source":{"kind":"folder","location":"` + dir + `"}}}`))
		case "GET /api/plugins":
			_, _ = w.Write([]byte(`{"count":1,"plugins":[{"id":"my-plugin","version":"1.0.0","state":"active","health":{"status":"healthy"},"stats":{"requests":12},"source":{"kind":"git","location":"https://github.com/o/r","version":"v1"}}]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no route"}}`))
		}
	}))
	defer srv.Close()

	t.Chdir(filepath.Dir(dir))
	out, errOut, err := runClient(t, srv, "install", filepath.Base(dir))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if sent.Source != dir {
		t.Errorf("sent source %q, want the absolute path %q", sent.Source, dir)
	}
	polls = 0
	mu.Unlock()
	if want := "fetching... done\nbuilding... done (3.2s)\ninstalled my-plugin 1.0.0 (active) from " + dir + "\n"; out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if errOut != "warning: unsigned\n" {
		t.Errorf("stderr %q", errOut)
	}

	out, _, err = runClient(t, srv, "install", dir, "--version", "bad")
	if want := "build /x:\n  a.go:1:1: nope\n  b.go:2:2: worse"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	if want := "fetching... done\nbuilding... failed (1.5s)\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}

	out, _, err = runClient(t, srv, "list")
	if err != nil {
		t.Fatal(err)
	}
	want := "ID         VERSION  STATE   HEALTH   REQUESTS  SOURCE\n" +
		"my-plugin  1.0.0    active  healthy  12        https://github.com/o/r@v1\n"
	if out != want {
		t.Errorf("list:\n%s\nwant:\n%s", out, want)
	}
}
