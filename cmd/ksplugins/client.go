package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/client"
)

// defaultServer is where the client commands look for the server.
const defaultServer = "http://localhost:4000"

// clientFlags are the connection flags every client command takes.
type clientFlags struct {
	server string
	token  string
}

// bind adds --server and --token to cmd and its subcommands.
func (f *clientFlags) bind(cmd *cobra.Command) {
	server := os.Getenv("KSPLUGINS_SERVER")
	if server == "" {
		server = defaultServer
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.server, "server", server, "the server's URL (KSPLUGINS_SERVER)")
	pf.StringVar(&f.token, "token", "", "the admin token (default: KSPLUGINS_TOKEN, else the contents of <KSPLUGINS_DATA_DIR or ./data>/admin.token)")
}

// client returns a client of the server the flags name.
func (f *clientFlags) client() (*client.Client, error) {
	token, err := resolveToken(f.token, os.Getenv)
	if err != nil {
		return nil, err
	}
	server := f.server
	if server == "" {
		server = defaultServer
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	return client.New(server, token, &http.Client{}), nil
}

// resolveToken finds the admin token: the flag, else KSPLUGINS_TOKEN, else
// the token file the server writes in its data directory.
func resolveToken(flag string, getenv func(string) string) (string, error) {
	if t := strings.TrimSpace(flag); t != "" {
		return t, nil
	}
	if t := strings.TrimSpace(getenv("KSPLUGINS_TOKEN")); t != "" {
		return t, nil
	}
	dir := getenv("KSPLUGINS_DATA_DIR")
	if dir == "" {
		dir = "./data"
	}
	path := filepath.Join(dir, auth.TokenFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("no admin token: pass --token, set KSPLUGINS_TOKEN, or run where the server's %s is (or set KSPLUGINS_DATA_DIR to the server's data directory)", path)
	case err != nil:
		return "", fmt.Errorf("read the admin token: %w (pass --token or set KSPLUGINS_TOKEN instead)", err)
	}
	t := strings.TrimSpace(string(data))
	if t == "" {
		return "", fmt.Errorf("admin token file %s is empty: pass --token or set KSPLUGINS_TOKEN", path)
	}
	return t, nil
}

// clientCommands returns the commands that drive a running server.
func clientCommands() []*cobra.Command {
	f := &clientFlags{}
	cmds := []*cobra.Command{
		installCommand(f),
		searchCommand(f),
		outdatedCommand(f),
		listCommand(f),
		getCommand(f),
		statusCommand(f),
		unloadCommand(f),
		reloadCommand(f),
		enableCommand(f, true),
		enableCommand(f, false),
		updateCommand(f),
		configCommand(f),
		cacheCommand(f),
		eventsCommand(f),
		tokenCommand(f),
		auditCommand(f),
		devCommand(f),
	}
	for _, c := range cmds {
		f.bind(c)
	}
	return cmds
}

// run wraps a client command: it connects, runs fn, and explains common
// failures.
func run(f *clientFlags, fn func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		return explain(fn(ctx, c, cmd, args), f.server)
	}
}

// explain adds a hint to the failures a user can fix.
func explain(err error, server string) error {
	if err == nil {
		return nil
	}
	var apiErr *client.APIError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w\n(is the server running at %s? start it with `ksplugins serve`, or point --server or KSPLUGINS_SERVER at it)", err, server)
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized:
		return fmt.Errorf("%w (check --token or KSPLUGINS_TOKEN: the server's token is in its data/admin.token)", err)
	}
	return err
}

func installCommand(f *clientFlags) *cobra.Command {
	var req apiv1.LoadRequest
	cmd := &cobra.Command{
		Use:   "install <catalog-id[@version]|url|folder|file.so|archive.zip|archive.tar.gz>",
		Short: "Install a plugin into a running server",
		Long: `Install a plugin into a running server and follow the install step by step.

A plain id, such as primes or primes@1.2.0, installs that entry of the
server's catalogs (see ksplugins search): the version named, or the latest,
exactly as the catalog's publisher signed it. Archives (.zip, .tar.gz, .tgz)
are uploaded from this machine. Anything else is loaded by the server
itself: a repository URL (https://github.com/owner/repo, optionally
.../tree/<ref>/<path>; --version picks a tag, branch or commit and --path
the plugin's folder), or a plugin folder or .so file, sent as an absolute
path on the server's disk.`,
		Args: cobra.ExactArgs(1),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			if id, version, ok := catalogRef(args[0]); ok {
				if req.Path != "" || req.Checksum != "" || req.Signature != "" {
					return errors.New("--path, --checksum and --signature do not apply to a catalog entry: its catalog pins and signs each version")
				}
				if version == "" {
					version = req.Version
				}
				return installFromCatalog(ctx, c, cmd.OutOrStdout(), cmd.ErrOrStderr(), id, version)
			}
			return install(ctx, c, cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], req)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Version, "version", "", "the version: a repository's tag, branch or commit; for a local plugin, the version it must have")
	fl.StringVar(&req.Path, "path", "", "the plugin's folder inside the repository")
	fl.StringVar(&req.Checksum, "checksum", "", "the expected digest, sha256:<hex>")
	fl.StringVar(&req.Signature, "signature", "", "a base64 ed25519 signature of the digest")
	return cmd
}

// isArchive tells a local plugin archive by its name.
func isArchive(src string) bool {
	if strings.Contains(src, "://") {
		return false
	}
	lower := strings.ToLower(src)
	for _, ext := range [...]string{".zip", ".tar.gz", ".tgz"} {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// loadSource is what the server is sent for a source that is not uploaded:
// repository URLs as given, local paths made absolute.
func loadSource(src string) (string, error) {
	if strings.Contains(src, "://") || strings.HasPrefix(src, "github.com/") {
		return src, nil
	}
	return filepath.Abs(src)
}

// install runs an install and prints its progress.
func install(ctx context.Context, c *client.Client, out, errOut io.Writer, src string, req apiv1.LoadRequest) error {
	var (
		op   *apiv1.Operation
		err  error
		from string
	)
	if isArchive(src) {
		if req.Version != "" || req.Path != "" {
			return errors.New("--version and --path apply to repositories and folders, not to archives")
		}
		fmt.Fprintf(out, "uploading %s...", filepath.Base(src))
		start := time.Now()
		op, err = c.UploadAsync(ctx, src, req.Checksum, req.Signature)
		if err != nil {
			fmt.Fprintln(out, " failed")
			return installError(err)
		}
		fmt.Fprintf(out, " done%s\n", took(time.Since(start)))
		from = src
	} else {
		if req.Source, err = loadSource(src); err != nil {
			return err
		}
		if op, err = c.InstallAsync(ctx, req); err != nil {
			return installError(err)
		}
	}
	return follow(ctx, c, out, errOut, op, "install", from)
}

// follow prints an install's or update's steps as they go and its
// warnings, and returns its failure; from names the source, "" for the
// plugin's own.
func follow(ctx context.Context, c *client.Client, out, errOut io.Writer, op *apiv1.Operation, what, from string) error {
	steps := &stepPrinter{w: out}
	final, err := c.WaitOperation(ctx, op.ID, steps.report)
	steps.close()
	if final != nil {
		for _, w := range final.Warnings {
			fmt.Fprintln(errOut, "warning:", w)
		}
		if final.Result != nil {
			for _, w := range final.Result.Warnings {
				fmt.Fprintln(errOut, "warning:", w)
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped following %s %s; the server carries on (see `ksplugins list`): %w", what, op.ID, err)
		}
		return installError(err)
	}
	res := final.Result
	if res == nil {
		return fmt.Errorf("%s %s succeeded without the plugin's record", what, op.ID)
	}
	if from == "" {
		from = sourceText(res.Source)
	}
	done := "installed"
	if what == "update" {
		done = "updated"
	}
	fmt.Fprintf(out, "%s %s %s (%s) from %s\n", done, orDash(res.ID), orDash(res.Version), orDash(string(res.State)), from)
	return nil
}

// installError is an install's failure with each compiler diagnostic on its
// own line.
func installError(err error) error {
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	lines := apiErr.Diagnostics()
	msg := apiErr.Error()
	if len(lines) > 0 {
		// The message ends with the diagnostics joined by "; ": list them
		// one a line instead.
		if short, ok := strings.CutSuffix(msg, strings.Join(lines, "; ")); ok && strings.TrimSpace(short) != "" {
			msg = strings.TrimRight(short, " ")
		}
	} else if bf := apiErr.BuildFailure(); bf != nil && bf.Output != "" {
		lines = strings.Split(bf.Output, "\n")
	}
	if len(lines) == 0 {
		return err
	}
	var b strings.Builder
	b.WriteString(msg)
	for _, l := range lines {
		b.WriteString("\n  ")
		b.WriteString(l)
	}
	return &detailedError{text: b.String(), err: err}
}

// detailedError is an error shown with more lines than its cause's message.
type detailedError struct {
	text string
	err  error
}

func (e *detailedError) Error() string { return e.text }
func (e *detailedError) Unwrap() error { return e.err }

// stepPrinter prints an operation's steps as they go:
// "fetching... done", "building... done (3.2s)".
type stepPrinter struct {
	w    io.Writer
	open string // the step whose line is not finished
}

func (p *stepPrinter) report(step apiv1.Step) {
	name, state := orDash(step.Name), step.State
	if p.open != name {
		p.close()
		fmt.Fprintf(p.w, "%s...", name)
		p.open = name
	}
	switch state {
	case "done":
		fmt.Fprintf(p.w, " done%s\n", took(stepDuration(step)))
		p.open = ""
	case "failed":
		fmt.Fprintf(p.w, " failed%s\n", took(stepDuration(step)))
		p.open = ""
	}
}

// close ends an unfinished line.
func (p *stepPrinter) close() {
	if p.open != "" {
		fmt.Fprintln(p.w)
		p.open = ""
	}
}

func stepDuration(step apiv1.Step) time.Duration {
	if step.FinishedAt == nil || step.StartedAt.IsZero() {
		return 0
	}
	return step.FinishedAt.Sub(step.StartedAt)
}

// took shows a duration worth mentioning: " (3.2s)".
func took(d time.Duration) string {
	if d < time.Second {
		return ""
	}
	return fmt.Sprintf(" (%.1fs)", d.Seconds())
}

func listCommand(f *clientFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the plugins of a running server",
		Args:  cobra.NoArgs,
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			res, err := c.List(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			if len(res.Plugins) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no plugins installed")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tVERSION\tSTATE\tHEALTH\tREQUESTS\tSOURCE")
			for _, p := range res.Plugins {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", orDash(p.ID), orDash(p.Version), orDash(string(p.State)),
					orDash(string(p.Health.Status)), p.Stats.Requests, sourceText(p.Source))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the server's JSON")
	return cmd
}

func getCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get <id>",
		Short: "Show a plugin's record as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			res, err := c.Get(ctx, args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), res)
		}),
	}
}

func statusCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status <id>",
		Short: "Show a plugin's status (its GetStatus() with state and counters) as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			res, err := c.Status(ctx, args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), res)
		}),
	}
}

func unloadCommand(f *clientFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "unload <id>",
		Short: "Unload a plugin",
		Args:  cobra.ExactArgs(1),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			unload := c.Unload
			if force {
				unload = c.ForceUnload
			}
			if _, err := unload(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "unloaded", args[0])
			return nil
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "unload it even when other plugins depend on it (they run on, degraded)")
	return cmd
}

func reloadCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "reload <id>",
		Short: "Load a plugin's source again and swap it in (on failure the old version keeps serving)",
		Args:  cobra.ExactArgs(1),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			res, err := c.Reload(ctx, args[0])
			if err != nil {
				return installError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reloaded %s %s (%s)\n", orDash(res.ID), orDash(res.Version), orDash(string(res.State)))
			return nil
		}),
	}
}

func enableCommand(f *clientFlags, on bool) *cobra.Command {
	verb, short := "disable", "Disable a plugin: it stays loaded and answers 503"
	call := (*client.Client).Disable
	if on {
		verb, short, call = "enable", "Enable a disabled plugin", (*client.Client).Enable
	}
	var force bool
	cmd := &cobra.Command{
		Use:   verb + " <id>",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			if force {
				call = (*client.Client).ForceDisable
			}
			res, err := call(c, ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%sd %s (%s)\n", verb, orDash(res.ID), orDash(string(res.State)))
			return nil
		}),
	}
	if !on {
		cmd.Flags().BoolVar(&force, "force", false, "disable it even when other plugins depend on it (they run on, degraded)")
	}
	return cmd
}

func updateCommand(f *clientFlags) *cobra.Command {
	var version string
	var fromCatalog bool
	cmd := &cobra.Command{
		Use:   "update <id> (--version V | --catalog [--version V])",
		Short: "Install another version of a plugin from its source, or its catalog's",
		Long: `Install another version of a repository plugin beside the running one and
switch once it is healthy. --version names a tag, branch or commit; with
--catalog, a version of the plugin's catalog entry (the latest by default),
exactly as its publisher signed it.`,
		Args: cobra.ExactArgs(1),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			if fromCatalog {
				op, err := c.CatalogUpdateAsync(ctx, args[0], version)
				if err != nil {
					return installError(err)
				}
				return follow(ctx, c, cmd.OutOrStdout(), cmd.ErrOrStderr(), op, "update", "catalog entry "+args[0])
			}
			if version == "" {
				return errors.New("--version is required: a tag, branch or commit (or --catalog for the catalog's latest)")
			}
			res, err := c.Update(ctx, args[0], version)
			if err != nil {
				return installError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "updated %s to %s (%s)\n", orDash(res.ID), orDash(res.Version), orDash(string(res.State)))
			return nil
		}),
	}
	cmd.Flags().StringVar(&version, "version", "", "the version to install: a tag, branch or commit; with --catalog, a catalog version")
	cmd.Flags().BoolVar(&fromCatalog, "catalog", false, "update to a version of the plugin's catalog entry")
	return cmd
}

func configCommand(f *clientFlags) *cobra.Command {
	var replace bool
	cmd := &cobra.Command{
		Use:   "config <id> [key=value ...]",
		Short: "Show or set a plugin's configuration",
		Long: `Without key=value pairs, print the plugin's effective configuration.

With pairs, set those keys and print the result. A value is taken as JSON when
it parses as JSON (42, true, ["a","b"], {"k":1}, "quoted"), else as a string.
Keys set before keep their values unless --replace is given, in which case
every key not named goes back to the manifest's default (--replace with no
pairs resets them all).`,
		Args: cobra.MinimumNArgs(1),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			id, pairs := args[0], args[1:]
			if len(pairs) == 0 && !replace {
				res, err := c.Config(ctx, id)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), res.Configuration)
			}
			values, err := parsePairs(pairs)
			if err != nil {
				return err
			}
			if !replace {
				rec, err := c.Get(ctx, id)
				if err != nil {
					return err
				}
				kept := overrides(rec.Config, rec.Metadata.Configuration)
				for k, v := range values {
					kept[k] = v
				}
				values = kept
			}
			res, err := c.SetConfig(ctx, id, values)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), res.Configuration)
		}),
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "set only the given keys; the others go back to their defaults")
	return cmd
}

// parsePairs reads key=value arguments; values are JSON when they parse.
func parsePairs(pairs []string) (apiv1.ConfigValues, error) {
	out := make(apiv1.ConfigValues, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q: want key=value", p)
		}
		out[k] = parseValue(v)
	}
	return out, nil
}

// parseValue is v as JSON when it is one JSON value, else v as a string.
func parseValue(v string) any {
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil || dec.More() {
		return v
	}
	if _, err := dec.Token(); err != io.EOF {
		return v
	}
	return x
}

// overrides reconstructs the operator's configuration of a plugin from its
// record's effective configuration and its manifest's defaults: the
// effective values that differ from the defaults.
func overrides(effective, defaults map[string]any) apiv1.ConfigValues {
	out := apiv1.ConfigValues{}
	for k, v := range effective {
		if d, ok := defaults[k]; !ok || !reflect.DeepEqual(d, v) {
			out[k] = v
		}
	}
	return out
}

func cacheCommand(f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect or purge a running server's build cache",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "info",
		Short: "Show the build cache as JSON",
		Args:  cobra.NoArgs,
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			res, err := c.CacheInfo(ctx)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), res)
		}),
	}, &cobra.Command{
		Use:   "purge",
		Short: "Remove every cached build that no installed plugin needs",
		Args:  cobra.NoArgs,
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			res, err := c.PurgeCache(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d cached builds, freed %d bytes\n", res.Removed, res.FreedBytes)
			return nil
		}),
	})
	return cmd
}

func tokenCommand(f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke a running server's named tokens (admin)",
		Args:  cobra.NoArgs,
	}
	var ttl string
	create := &cobra.Command{
		Use:   "create <name> <viewer|operator|admin>",
		Short: "Create a token; its secret is printed once",
		Args:  cobra.ExactArgs(2),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			res, err := c.CreateToken(ctx, args[0], args[1], ttl)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s (%s): %s\n(shown once: store it now)\n", args[0], args[1], orDash(res.Secret))
			return nil
		}),
	}
	create.Flags().StringVar(&ttl, "ttl", "", "lifetime, such as 720h (default: no expiry)")
	cmd.AddCommand(create, &cobra.Command{
		Use:   "list",
		Short: "List tokens as JSON (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			res, err := c.Tokens(ctx)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), res)
		}),
	}, &cobra.Command{
		Use:   "revoke <name>",
		Short: "Revoke a token",
		Args:  cobra.ExactArgs(1),
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			if _, err := c.RevokeToken(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		}),
	})
	return cmd
}

func auditCommand(f *clientFlags) *cobra.Command {
	var after int64
	cmd := &cobra.Command{
		Use:   "audit [--after ID]",
		Short: "Print a running server's audit log as JSON (admin)",
		Args:  cobra.NoArgs,
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			res, err := c.Audit(ctx, after)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), res)
		}),
	}
	cmd.Flags().Int64Var(&after, "after", 0, "only entries after this id")
	return cmd
}

func eventsCommand(f *clientFlags) *cobra.Command {
	var since uint64
	cmd := &cobra.Command{
		Use:   "events [--since N]",
		Short: "Print the server's events",
		Long: `With --since N, print the recent events after event N as a JSON list
(--since 0: all that the server remembers). Without it, stream the live
events (Server-Sent Events lines) until interrupted.`,
		Args: cobra.NoArgs,
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if cmd.Flags().Changed("since") {
				res, err := c.Events(ctx, since)
				if err != nil {
					return err
				}
				list := res.Events
				if list == nil {
					list = []apiv1.Event{}
				}
				return printJSON(out, list)
			}
			err := c.StreamEvents(ctx, func(line string) error {
				if strings.HasPrefix(line, ":") { // heartbeat
					return nil
				}
				_, err := fmt.Fprintln(out, line)
				return err
			})
			switch {
			case errors.Is(err, context.Canceled):
				return nil
			case errors.Is(err, io.ErrUnexpectedEOF):
				return errors.New("the server ended the event stream")
			}
			return err
		}),
	}
	cmd.Flags().Uint64Var(&since, "since", 0, "list the events after this event id as JSON instead of streaming")
	return cmd
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// orDash shows a string, "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sourceText shows a plugin's source: its location, @version when one was
// asked for.
func sourceText(src apiv1.Source) string {
	loc := orDash(src.Location)
	if src.Kind == apiv1.SourceUpload {
		loc = "upload " + loc
	}
	if src.Version != "" {
		loc += "@" + src.Version
	}
	if src.Path != "" {
		loc += " (" + src.Path + ")"
	}
	return loc
}
