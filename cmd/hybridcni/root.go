package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/config"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitFailure = 1
	exitInvalid = 2
)

// subcommands holds the constructors registered by each subcommand's file.
var subcommands []func() *cobra.Command

// register adds a subcommand; call it from an init function in the subcommand's file.
func register(newCmd func() *cobra.Command) { subcommands = append(subcommands, newCmd) }

// newRootCmd builds a fresh command tree, so tests can run the CLI many times.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "hybridcni",
		Short:         "Qualify CNIs (Cilium, Calico) on EKS hybrid nodes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, newCmd := range subcommands {
		root.AddCommand(newCmd())
	}
	return root
}

// usageError marks a command-line mistake (bad flag, missing argument): exit 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// invalidf reports bad input that is not a configuration field (exit 2).
func invalidf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// execute runs the CLI and maps errors to exit codes: 2 for invalid input, 1 otherwise.
// SIGINT and SIGTERM cancel the command's context so it can tear down what it made.
func execute(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "Error:", err)
	if isInvalidInput(err) {
		return exitInvalid
	}
	return exitFailure
}

func isInvalidInput(err error) bool {
	var cfgErr *config.Error
	var uErr usageError
	return errors.As(err, &cfgErr) || errors.As(err, &uErr)
}
