package probe_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/cmd/hybridcni/probecmd"
	"github.com/hybridcni/hybridcni/framework/config"
)

// cliEnv makes the test binary act as the hybridcni CLI (echo and probe
// subcommands, the same cobra commands cmd/hybridcni registers, from
// cmd/hybridcni/probecmd), so lab
// namespaces run exactly what pods and containers run, without a build.
const cliEnv = "HYBRIDCNI_PROBE_TEST_CLI=1"

func TestMain(m *testing.M) {
	if os.Getenv("HYBRIDCNI_PROBE_TEST_CLI") == "1" {
		os.Exit(runCLI(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runCLI mirrors cmd/hybridcni's execute: exit 2 for invalid input, 1 for other errors.
func runCLI(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{Use: "hybridcni", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(probecmd.Probe(), probecmd.Echo())
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		var ce *config.Error
		if errors.As(err, &ce) {
			return 2
		}
		return 1
	}
	return 0
}

// cliBin is the argv prefix running the CLI in a place.
func cliBin() []string { return []string{os.Args[0]} }
