package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/fsatomic"
)

func buildCommand() *cobra.Command {
	s := config.FromEnv()
	var (
		out       string
		sandboxed bool
	)
	cmd := &cobra.Command{
		Use:   "build <plugin-folder>",
		Short: "Build a plugin folder into a native plugin this host can load",
		Long: `Build a plugin folder into a .so built exactly as this host requires
(same toolchain, flags and module versions), and copy it to --output
(default: <plugin-dir>/<plugin-id>.so); with --sandboxed, into a .wasm for
the sandboxed tier.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, _, err := newLogger(s.LogFormat, s.System.Debug)
			if err != nil {
				return err
			}
			b, _, err := newBuilder(s, log)
			if err != nil {
				return err
			}
			tier := build.Native
			if sandboxed {
				tier = build.Sandboxed
			}
			// A folder named on this machine's command line: its owner's.
			art, err := b.Build(cmd.Context(), args[0], tier, build.FullTrust)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(s.PluginDir, art.Manifest.ID+filepath.Ext(art.Path))
			}
			if err := fsatomic.CopyFile(art.Path, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s -> %s (%s)\n", art.Manifest.ID, art.Manifest.Version, out, art.Digest)
			return nil
		},
	}
	addDirFlags(cmd, &s)
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write the .so or .wasm")
	cmd.Flags().BoolVar(&sandboxed, "sandboxed", false, "build for the sandboxed (WebAssembly) tier")
	return cmd
}
