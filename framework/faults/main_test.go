package faults

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/cmd/hybridcni/probecmd"
)

// cliEnv makes the test binary act as the hybridcni CLI's probe and echo
// commands (cmd/hybridcni/probecmd), so lab namespaces run what pods run.
const cliEnv = "HYBRIDCNI_FAULTS_TEST_CLI=1"

func TestMain(m *testing.M) {
	if os.Getenv("HYBRIDCNI_FAULTS_TEST_CLI") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		root := &cobra.Command{Use: "hybridcni", SilenceUsage: true, SilenceErrors: true}
		root.AddCommand(probecmd.Probe(), probecmd.Echo())
		root.SetArgs(os.Args[1:])
		err := root.ExecuteContext(ctx)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
