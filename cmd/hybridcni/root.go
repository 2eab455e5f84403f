package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
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
		Version:       buildinfo.Get().String(),
		// A root without Run answers an unknown command with its help and
		// exit 0; this makes it a usage error (exit 2) naming the commands.
		Args: unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			if noColor, _ := cmd.Flags().GetBool("no-color"); noColor {
				os.Setenv("NO_COLOR", "1")
			}
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().Bool("no-color", false, "no colour in output (also when $NO_COLOR is set or the output is not a terminal)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{explainFlagError(err)} })
	for _, newCmd := range subcommands {
		root.AddCommand(newCmd())
	}
	groupsRejectUnknown(root)
	return root
}

// unknownCommand rejects arguments to a command that only groups others
// (exit 2), naming the nearest command.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	fix := "run `" + cmd.CommandPath() + " --help` for the commands"
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		fix = "did you mean `" + cmd.CommandPath() + " " + s[0] + "`?"
	}
	return invalidf("unknown command %q for %q (fix: %s)", args[0], cmd.CommandPath(), fix)
}

// groupsRejectUnknown makes every command that only groups subcommands
// (cni, images, get) print its help when called alone and reject unknown
// subcommands with exit 2, as the root does.
// It also makes every positional-argument error a usage error (exit 2)
// with the fix, whichever validator the command uses.
func groupsRejectUnknown(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if sub.HasSubCommands() && sub.Run == nil && sub.RunE == nil {
			sub.Args = unknownCommand
			sub.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		if orig := sub.Args; orig != nil {
			sub.Args = func(cmd *cobra.Command, args []string) error {
				err := orig(cmd, args)
				var u usageError
				if err == nil || errors.As(err, &u) {
					return err
				}
				return usageError{fmt.Errorf("%s: %w (fix: see '%s --help')", cmd.CommandPath(), err, cmd.CommandPath())}
			}
		}
		groupsRejectUnknown(sub)
	}
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
// SIGINT, SIGTERM and SIGHUP cancel the command's context so it can tear
// down what it made; so does SIGPIPE, which would otherwise kill the process
// at its next line of output once its reader is gone (a parent killed, a
// closed terminal pipe), leaving the run's cluster behind.
func execute(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command ") && !isInvalidInput(err) {
		err = usageError{fmt.Errorf("%w (fix: run `hybridcni --help` for the commands)", err)}
	}
	if err == nil {
		return exitOK
	}
	if strings.Contains(err.Error(), "address already in use") {
		// The flag's port is taken: the input, not the run, must change.
		err = usageError{fmt.Errorf("%w (fix: stop what listens there, or pass another --listen-address or port)", err)}
	}
	if !isInvalidInput(err) {
		err = corruptChart(err)
	}
	msg := err.Error()
	if !colour(stderr) {
		msg = ansiEscape.ReplaceAllString(msg, "")
	}
	fmt.Fprintln(stderr, "Error:", msg)
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

// flagValueError is pflag's "invalid argument" message, whose cause is a raw
// library error (strconv, time.ParseDuration).
var flagValueError = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-\w, )?(--[\w-]+)" flag: (.*)$`)

// explainFlagError rewrites a flag value error into one that names the
// flag, says what it wants, and gives one fix.
func explainFlagError(err error) error {
	m := flagValueError.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%w (fix: see --help for this command's flags)", err)
	}
	val, flag, cause := m[1], m[2], m[3]
	var want, example string
	switch {
	case strings.Contains(cause, "duration"):
		want, example = "a duration with a unit", "30s, 5m or 1h30m"
	case strings.Contains(cause, "ParseBool"):
		want, example = "true or false", flag+"=true or "+flag+"=false"
	case strings.Contains(cause, "ParseFloat"):
		want, example = "a number", "1 or 0.5"
	case strings.Contains(cause, "ParseUint"):
		want, example = "a whole number, 0 or more", "64512"
	case strings.Contains(cause, "ParseInt") || strings.Contains(cause, "Atoi"):
		want, example = "a whole number", "25"
	default:
		return fmt.Errorf("%s %q: %s (fix: see --help for what %s takes)", flag, val, cause, flag)
	}
	if strings.Contains(cause, "out of range") {
		return fmt.Errorf("%s %q: out of range for %s (fix: pass a smaller number)", flag, val, want)
	}
	return fmt.Errorf("%s %q: not %s (fix: pass e.g. %s)", flag, val, want, example)
}

// ansiEscape matches terminal colour codes (libraries such as Ginkgo's label
// filter put them in their errors).
var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// colour reports whether w may receive colour: a terminal, with neither
// --no-color nor $NO_COLOR set.
func colour(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// corruptChartMarkers are what chart loading says of an archive that is not
// a chart, or not the one its index names: the input must change (exit 2),
// as for a missing chart; an unreachable repository stays a failure (1).
var corruptChartMarkers = []string{
	"does not appear to be a gzipped archive",
	"does not match the index digest",
	"Chart.yaml file is missing",
	"chart illegally contains",
}

func corruptChart(err error) error {
	msg := err.Error()
	for _, m := range corruptChartMarkers {
		if strings.Contains(msg, m) {
			if !strings.Contains(msg, "(fix:") {
				return usageError{fmt.Errorf("%w (fix: download the archive again, or rebuild the folder's index.yaml with 'helm repo index')", err)}
			}
			return usageError{err}
		}
	}
	return err
}
