package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/client"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/manifest"
)

// devCommand is the author's loop: serve a plugin folder, rebuild and swap
// it on every save, and say how each rebuild went.
func devCommand(f *clientFlags) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "dev <folder>",
		Short: "Serve a plugin folder and swap in every saved change",
		Long: `Load a plugin folder into a running server (--server), or start one
on --addr for development (loopback only, no credentials), watch the folder,
and print each rebuild with its duration, or the compiler's errors. The old
version keeps serving while a change does not build. Stop with Ctrl-C.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			md, _, err := manifest.ParseFile(filepath.Join(dir, "plugin.yaml"))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			c, err := f.client()
			if err != nil || !reachable(ctx, f.server) {
				c, err = startDevServer(ctx, addr, out)
				if err != nil {
					return err
				}
			}
			start := time.Now()
			fmt.Fprintf(out, "building %s...\n", md.ID)
			if _, err := c.Install(ctx, apiv1.LoadRequest{Source: dir, Watch: true}); err != nil {
				var apiErr *client.APIError
				if errors.As(err, &apiErr) && apiErr.Code == "plugin_exists" {
					fmt.Fprintf(out, "%s is loaded already: reloading it\n", md.ID)
					if _, err = c.Unload(ctx, md.ID); err == nil {
						_, err = c.Install(ctx, apiv1.LoadRequest{Source: dir, Watch: true})
					}
				}
				if err != nil {
					printFailure(out, err)
					return err
				}
			}
			fmt.Fprintf(out, "serving %s in %s at %s/api/plugin-endpoints/%s/ — watching %s\n", md.ID, since(start), strings.TrimSuffix(c.BaseURL(), "/"), md.ID, dir)
			return followReloads(ctx, c, md.ID, out)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:4000", "where to start a development server when none answers at --server")
	return cmd
}

// reachable reports whether a server answers at url.
func reachable(ctx context.Context, url string) bool {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startDevServer runs a server in this process on a loopback address,
// without credentials, until ctx ends.
func startDevServer(ctx context.Context, addr string, out io.Writer) (*client.Client, error) {
	s := config.FromEnv()
	s.Addr, s.InsecureLocal = addr, true
	// The plugin's own build is about to run: a warm-up beside it would
	// only compete for the cores, and a sandboxed plugin's build warms the
	// same cache anyway.
	s.WarmUp = false
	if err := loopbackOnly(addr); err != nil {
		return nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, s) }()
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for !reachable(ctx, url) {
		select {
		case err := <-errc:
			return nil, fmt.Errorf("start development server: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.New("start development server: no answer after 30s")
		}
	}
	fmt.Fprintf(out, "started a development server at %s (no credentials; loopback only)\n", url)
	return client.New(url, "local", &http.Client{}), nil
}

// followReloads prints the plugin's reloads and failures as they happen.
func followReloads(ctx context.Context, c *client.Client, id string, out io.Writer) error {
	err := c.StreamEvents(ctx, func(line string) error {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			return nil
		}
		var e apiv1.Event
		if json.Unmarshal([]byte(data), &e) != nil || e.PluginID != id {
			return nil
		}
		switch e.Type {
		case apiv1.EventReloaded:
			ms, _ := e.Details["duration_ms"].(float64)
			fmt.Fprintf(out, "reloaded %s in %.2fs\n", id, ms/1000)
		case apiv1.EventError:
			fmt.Fprintf(out, "change not applied, the running version keeps serving:\n  %s\n", strings.ReplaceAll(e.Message, "; ", "\n  "))
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

// printFailure shows an install's error with its compiler diagnostics.
func printFailure(out io.Writer, err error) {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		for _, d := range apiErr.Diagnostics() {
			fmt.Fprintln(out, "  "+d)
		}
	}
}
