// Command ksplugins is the KubeStellar plugin host: `ksplugins serve` runs
// the server; the other verbs help build and manage plugins.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ksplugins:", err)
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ksplugins",
		Short:         "The KubeStellar dynamic plugin host",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCommand(), buildCommand())
	root.AddCommand(clientCommands()...)
	root.AddCommand(authorCommands()...)
	root.AddCommand(catalogCommand())
	return root
}
