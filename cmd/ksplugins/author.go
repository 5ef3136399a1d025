package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/modfile"

	"github.com/kubestellar/ksplugins"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/scaffold"
)

// hostModulePath is this repository's module: a checkout of it is an SDK a
// new plugin can build against without fetching anything.
const hostModulePath = "github.com/kubestellar/ksplugins"

// authorCommands are the verbs for writing plugins rather than running
// them: start one, test one.
func authorCommands() []*cobra.Command {
	return []*cobra.Command{authorNewCommand(), authorTestCommand()}
}

func authorNewCommand() *cobra.Command {
	var dir, author string
	var ui bool
	cmd := &cobra.Command{
		Use:   "new <name>",
		Short: "Create a plugin folder with a manifest, code, a test and a go.mod",
		Long: `Create the folder of a new plugin whose id is <name>, in ./<name> or --dir:
plugin.yaml, main.go, a test using sdk/sdktest, go.mod and go.sum pinned to
this host's versions, and a README.

The new go.mod replaces the SDK module with a local copy, so the plugin
builds and tests offline against exactly this host's SDK: the checkout it is
run in, or else the SDK source this binary carries, written once to the
user's cache folder (ksplugins/sdk/<digest>).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if dir == "" {
				dir = name
			}
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			sdkDir, where := findSDKCheckout(wd), "the ksplugins checkout"
			if sdkDir == "" {
				if sdkDir, err = carriedSDK(); err != nil {
					return err
				}
				where = "the SDK this ksplugins binary carries, written out"
			}
			if err := scaffold.Write(dir, name, scaffold.Options{Author: author, SDKDir: sdkDir, UI: ui}); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Created plugin %s in %s:\n", name, dir)
			created := []string{"plugin.yaml", "main.go", "main_test.go", "go.mod", "go.sum", "README.md"}
			if ui {
				created = append(created, "ui/index.html", "ui/app.js")
			}
			for _, f := range created {
				fmt.Fprintf(out, "  %s\n", filepath.Join(dir, f))
			}
			fmt.Fprintf(out, "\ngo.mod builds it against %s, in %s: nothing to fetch for it.\n", where, sdkDir)
			fmt.Fprintf(out, "\nNext steps:\n  ksplugins test %s   # run its tests\n  ksplugins dev %s    # load it into a host and reload it on change\n", dir, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "folder to create (default ./<name>); must not exist or be empty")
	cmd.Flags().StringVar(&author, "author", "", "author written into plugin.yaml")
	cmd.Flags().BoolVar(&ui, "ui", false, "add a UI component (ui/index.html) the manager page shows in the plugin's view")
	return cmd
}

// carriedSDK writes the SDK source this binary was built with to the
// user's cache folder, once per source, and returns its folder.
func carriedSDK() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a folder for the SDK: %w", err)
	}
	return build.WriteModule(filepath.Join(cache, "ksplugins", "sdk"), ksplugins.SDKSource())
}

// findSDKCheckout walks up from dir to a go.mod of this repository's
// module and returns its folder, or "" when dir is not inside a checkout.
// Other modules on the way (a plugin's own go.mod) are passed over.
func findSDKCheckout(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modfile.ModulePath(data) == hostModulePath {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func authorTestCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "test <plugin-folder> [-- go test flags]",
		Short: "Run a plugin folder's tests",
		Long: `Run go test ./... in a plugin folder, outside any go.work, with the
output streamed. Flags after -- go to go test (ksplugins test . -- -run Hello -v).

Unless GOFLAGS sets -mod or the folder is vendored, go test runs with -mod=mod,
so a new plugin's go.mod gets the indirect requirements it still lacks from
the SDK's on the first run, without go mod tidy and its downloads.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			switch {
			case dash == 0:
				return errors.New("name the plugin folder before --")
			case dash < 0 && len(args) > 1:
				return fmt.Errorf("unexpected arguments %q: pass go test flags after --", args[1:])
			}
			dir, extra := args[0], args[1:]
			if fi, err := os.Stat(dir); err != nil {
				return err
			} else if !fi.IsDir() {
				return fmt.Errorf("%s is not a folder", dir)
			}
			goCmd := os.Getenv("KSPLUGINS_GO")
			if goCmd == "" {
				goCmd = "go"
			}
			c := exec.CommandContext(cmd.Context(), goCmd, goTestArgs(dir, os.Getenv("GOFLAGS"), extra)...)
			c.Dir = dir
			c.Env = append(os.Environ(), "GOWORK=off")
			c.Stdout = cmd.OutOrStdout()
			c.Stderr = cmd.ErrOrStderr()
			c.WaitDelay = 5 * time.Second
			err := c.Run()
			if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
				return fmt.Errorf("tests failed (%s)", exitErr)
			}
			if err != nil {
				return fmt.Errorf("running go test: %w", err)
			}
			return nil
		},
	}
}

// goTestArgs is the go test command line for the plugin folder dir.
func goTestArgs(dir, goflags string, extra []string) []string {
	args := []string{"test"}
	if !strings.Contains(goflags, "-mod=") {
		if _, err := os.Stat(filepath.Join(dir, "vendor")); errors.Is(err, fs.ErrNotExist) {
			args = append(args, "-mod=mod")
		}
	}
	args = append(args, extra...)
	return append(args, "./...")
}
