package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/suites/providers/existing"
)

func init() { register(newNodeShellCmd) }

// hostPath is the PATH commands are looked up in on the host.
const hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// newNodeShellCmd is what the existing provider's node shell pods run
// (hostPID, hostNetwork, privileged): alone it waits for SIGTERM; with
// `-- COMMAND...` it changes root to PID 1's (the host's filesystem as the
// host mounts it) and runs the command there, in the host's network and
// PID namespaces that the pod shares.
func newNodeShellCmd() *cobra.Command {
	return &cobra.Command{
		Use:    existing.NodeShellCommand + " [-- COMMAND...]",
		Short:  "Run a command on the host from a privileged pod (the existing provider's node shell)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				ch := make(chan os.Signal, 1)
				signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
				select {
				case <-ch:
				case <-cmd.Context().Done():
				}
				return nil
			}
			if err := syscall.Chroot("/proc/1/root"); err != nil {
				return fmt.Errorf("enter the host's root (the pod needs hostPID and privileged): %w", err)
			}
			if err := os.Chdir("/"); err != nil {
				return err
			}
			os.Setenv("PATH", hostPath)
			path, err := exec.LookPath(args[0])
			if err != nil {
				return fmt.Errorf("%s on the host: %w", args[0], err)
			}
			return syscall.Exec(path, args, os.Environ())
		},
	}
}
