package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/catalog"
	"github.com/kubestellar/ksplugins/internal/client"
	"github.com/kubestellar/ksplugins/internal/fsatomic"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/policy"
)

// catalogRef reads an install argument as a catalog id with an optional
// @version. Anything that looks like a path or URL, or names something on
// this machine, is not one: those keep their meaning.
func catalogRef(arg string) (id, version string, ok bool) {
	if strings.ContainsAny(arg, `/\:`) || strings.HasPrefix(arg, ".") || isArchive(arg) ||
		strings.HasSuffix(arg, ".so") || strings.HasSuffix(arg, ".wasm") {
		return "", "", false
	}
	if _, err := os.Stat(arg); err == nil {
		return "", "", false
	}
	id, version, _ = strings.Cut(arg, "@")
	if manifest.ValidateID("id", id) != nil {
		return "", "", false
	}
	return id, version, true
}

// installFromCatalog installs a catalog entry and prints its progress.
func installFromCatalog(ctx context.Context, c *client.Client, out, errOut io.Writer, id, version string) error {
	op, err := c.CatalogInstallAsync(ctx, id, version)
	if err != nil {
		return installError(err)
	}
	return follow(ctx, c, out, errOut, op, "install", "catalog entry "+id)
}

func searchCommand(f *clientFlags) *cobra.Command {
	var q client.CatalogQuery
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "search [words]",
		Short: "Search the plugin catalogs the server reads",
		Long: `Search the plugin catalogs the server reads: entries whose id, name,
summary, publisher or categories hold every word, in a category or tier.
Install one with ksplugins install <id>[@version].`,
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			q.Q = strings.Join(args, " ")
			list, err := c.Catalog(ctx, q)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			warnCatalogs(cmd.ErrOrStderr(), list.Catalogs)
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tLATEST\tTIERS\tINSTALLED\tCATALOG\tSUMMARY")
			for _, e := range list.Entries {
				installed := "-"
				if e.Installed {
					installed = orDash(e.InstalledVersion)
					if e.UpdateAvailable {
						installed += " (update)"
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, orDash(e.Latest), tiersText(e.Tiers), installed, e.Catalog, e.Summary)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if list.Total > len(list.Entries) {
				fmt.Fprintf(cmd.OutOrStdout(), "%d of %d entries (page %d; --page for more)\n", len(list.Entries), list.Total, list.Page)
			}
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Category, "category", "", "only entries in this category")
	fl.StringVar(&q.Tier, "tier", "", "only entries with a version of this tier: native, sandboxed or http-wasm")
	fl.IntVar(&q.Page, "page", 1, "the page of results")
	fl.IntVar(&q.PerPage, "per-page", 50, "results a page (at most 100)")
	fl.BoolVar(&asJSON, "json", false, "print the answer as JSON")
	return cmd
}

func outdatedCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "outdated",
		Short: "List the installed plugins their catalog has a newer version of",
		Long: `List the installed plugins their catalog has a newer version of: those
installed from the repository the catalog names. Update one with
ksplugins update <id> --catalog.`,
		Args: cobra.NoArgs,
		RunE: run(f, func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			var outdated []apiv1.CatalogEntry
			q := client.CatalogQuery{PerPage: 100}
			for q.Page = 1; ; q.Page++ {
				list, err := c.Catalog(ctx, q)
				if err != nil {
					return err
				}
				if q.Page == 1 {
					warnCatalogs(cmd.ErrOrStderr(), list.Catalogs)
				}
				for _, e := range list.Entries {
					if e.UpdateAvailable {
						outdated = append(outdated, e)
					}
				}
				if q.Page*q.PerPage >= list.Total {
					break
				}
			}
			if len(outdated) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "every plugin installed from a catalog is at its latest version")
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tINSTALLED\tLATEST\tCATALOG")
			for _, e := range outdated {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", e.ID, e.InstalledVersion, e.Latest, e.Catalog)
			}
			return w.Flush()
		}),
	}
}

// warnCatalogs tells of the catalogs that were refused or not read.
func warnCatalogs(w io.Writer, cs []apiv1.CatalogStatus) {
	for _, c := range cs {
		if c.Error != "" {
			fmt.Fprintf(w, "warning: catalog %s: %s\n", c.Name, c.Error)
		}
	}
}

func tiersText(ts []apiv1.Tier) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return orDash(strings.Join(s, ","))
}

// catalogCommand is the publisher's tool: keys, signing and verifying.
func catalogCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Publish a plugin catalog: make a key, sign and verify a catalog.yaml",
	}
	cmd.AddCommand(catalogKeygenCommand(), catalogSignCommand(), catalogVerifyCommand())
	return cmd
}

func catalogKeygenCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out <file>",
		Short: "Make an ed25519 key pair: the private key in <file>, the public key in <file>.pub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, priv, err := ed25519.GenerateKey(nil)
			if err != nil {
				return err
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists: keygen does not overwrite a key", out)
			}
			seed := base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"
			if err := writeFile(out, []byte(seed), 0o600); err != nil {
				return err
			}
			key := policy.EncodePublicKey(pub)
			if err := writeFile(out+".pub", []byte(key+"\n"), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "private key: %s (keep it secret)\npublic key:  %s\n%s\n", out, out+".pub", key)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "catalog.key", "the private key's file")
	return cmd
}

// readPrivateKey reads a key file keygen wrote: the base64 of the 32-byte
// seed (or of the 64-byte private key).
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: not the base64 of an ed25519 private key", path)
	case len(raw) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case len(raw) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(raw), nil
	}
	return nil, fmt.Errorf("%s: %d bytes; an ed25519 private key has %d (or a seed %d)", path, len(raw), ed25519.PrivateKeySize, ed25519.SeedSize)
}

// readPublicKeys reads keys given as "ed25519:<base64>" or as files
// holding one.
func readPublicKeys(args []string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, a := range args {
		text := a
		if data, err := os.ReadFile(a); err == nil {
			text = strings.TrimSpace(string(data))
		}
		k, err := policy.ParsePublicKey(text)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", a, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// publisherFlags say where a publisher's tool reads sources from.
type publisherFlags struct {
	base, token string
	maxBytes    int64
}

func (p *publisherFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&p.base, "repository-base-url", "https://github.com", "where github.com repositories are fetched from (a mirror)")
	fl.StringVar(&p.token, "repository-token", os.Getenv("KSPLUGINS_REPOSITORY_TOKEN"), "a token for private repositories at the base URL (KSPLUGINS_REPOSITORY_TOKEN)")
	fl.Int64Var(&p.maxBytes, "max-bytes", 100<<20, "the largest source read")
}

func (p *publisherFlags) fetch() catalog.Fetch {
	return catalog.Fetch{BaseURL: p.base, Token: p.token, MaxBytes: p.maxBytes}
}

func catalogSignCommand() *cobra.Command {
	var keyFile string
	var pf publisherFlags
	cmd := &cobra.Command{
		Use:   "sign --key <private key file> [catalog.yaml]",
		Short: "Compute each version's digest from its source, sign it, and sign the catalog",
		Long: `Compute each version's digest from its source (the plugin folder's files at
the repository's commit, or the archive's bytes), write it with its
signature into the catalog, then write the catalog's own signature to
catalog.yaml.sig. The file is rewritten as YAML: comments are not kept.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := catalogArg(args)
			priv, err := readPrivateKey(keyFile)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			file, err := catalog.Parse(data)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			f := pf.fetch()
			for i := range file.Entries {
				e := &file.Entries[i]
				for j := range e.Versions {
					v := &e.Versions[j]
					digest, err := f.Digest(ctx, v.Source)
					if err != nil {
						return fmt.Errorf("entries[%d].versions[%d] (%s %s): %w", i, j, e.ID, v.Version, err)
					}
					note := "unchanged"
					switch {
					case v.Digest == "":
						note = "new"
					case v.Digest != digest:
						note = "changed from " + v.Digest
					}
					v.Digest, v.Signature = digest, policy.Sign(priv, digest)
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s (%s)\n", e.ID, v.Version, digest, note)
				}
			}
			out, err := file.Marshal()
			if err != nil {
				return err
			}
			if err := file.Validate([]ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}); err != nil {
				return err
			}
			if err := writeFile(path, out, 0o644); err != nil {
				return err
			}
			if err := writeFile(path+catalog.SigSuffix, catalog.Sign(priv, out), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s (%d entries) with %s; wrote %s\n", path, len(file.Entries),
				policy.EncodePublicKey(priv.Public().(ed25519.PublicKey)), filepath.Base(path)+catalog.SigSuffix)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the private key's file (ksplugins catalog keygen)")
	_ = cmd.MarkFlagRequired("key")
	pf.bind(cmd)
	return cmd
}

func catalogVerifyCommand() *cobra.Command {
	var keys []string
	var sources bool
	var pf publisherFlags
	cmd := &cobra.Command{
		Use:   "verify --key <public key or file> [catalog.yaml]",
		Short: "Verify a catalog's signature and each version's, and with --sources each digest",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := catalogArg(args)
			pubs, err := readPublicKeys(keys)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sig, err := os.ReadFile(path + catalog.SigSuffix)
			if err != nil {
				return fmt.Errorf("the catalog's signature: %w", err)
			}
			file, err := catalog.Verify(data, sig, pubs)
			if err != nil {
				return err
			}
			versions := 0
			var mismatched []string
			for _, e := range file.Entries {
				for _, v := range e.Versions {
					versions++
					if !sources {
						continue
					}
					digest, err := pf.fetch().Digest(cmd.Context(), v.Source)
					if err != nil {
						return fmt.Errorf("%s %s: %w", e.ID, v.Version, err)
					}
					if digest != v.Digest {
						mismatched = append(mismatched, fmt.Sprintf("%s %s: the source's digest is %s, the catalog's %s", e.ID, v.Version, digest, v.Digest))
					}
				}
			}
			if len(mismatched) > 0 {
				return errors.New("sources changed after signing:\n  " + strings.Join(mismatched, "\n  "))
			}
			checked := "signatures verified"
			if sources {
				checked += ", sources match their digests"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d entries, %d versions: %s\n", path, len(file.Entries), versions, checked)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&keys, "key", nil, "a publisher's public key, ed25519:<base64> or a file holding it (repeat for several)")
	cmd.Flags().BoolVar(&sources, "sources", false, "also fetch every version's source and compare its digest")
	_ = cmd.MarkFlagRequired("key")
	pf.bind(cmd)
	return cmd
}

// writeFile writes data to path whole or not at all, with mode.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := fsatomic.Write(path, bytes.NewReader(data)); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// catalogArg is the catalog file an argument names, catalog.yaml if none.
func catalogArg(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return catalog.DefaultPath
}
