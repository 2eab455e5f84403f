package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// NewCommand returns `hybridcni probe` (one expectation from the current
// place) with its `meter` subcommand (the disruption meter).
func NewCommand() *cobra.Command {
	var s Spec
	var expect string
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Run one dataplane probe from here and judge it (one line of JSON, exit 0 pass / 1 fail)",
		Long: `Run one probe from the current network namespace (a pod, a container, a lab
namespace) and judge it against the expectation.

Targets: tcp://IP:PORT (connect), http://IP:PORT/PATH (GET answers 200),
udp://IP:PORT (the echo server answers), icmp://IP (echo reply).
--expect-source IP asserts the source address the echo server saw
(http://IP:PORT/clientip or udp://IP:PORT): after masquerading, the node IP.

Prints one line of JSON; exits 0 when the expectation held, 1 when it did not,
2 on bad input.`,
		Example: `  hybridcni probe --target http://10.100.0.140:8080/clientip --expect-source 10.100.0.10
  hybridcni probe --target tcp://10.100.0.140:8080 --expect failure
  hybridcni probe --target icmp://192.168.10.12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s.Expect = Outcome(expect)
			r, err := Run(cmd.Context(), s)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), r.JSON())
			if !r.Pass {
				return errors.New("probe " + s.Target + ": " + r.Reason)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Target, "target", "", "probe URL: tcp://IP:PORT, http://IP:PORT/PATH, udp://IP:PORT, icmp://IP")
	f.StringVar(&expect, "expect", string(Success), "success or failure")
	f.StringVar(&s.ExpectSource, "expect-source", "", "source IP the echo server must report (http .../clientip or udp)")
	f.DurationVar(&s.Timeout, "timeout", DefaultTimeout, "how long to wait for an answer")
	cmd.AddCommand(newMeterCommand())
	return cmd
}

func newMeterCommand() *cobra.Command {
	var (
		s          MeterSpec
		duration   time.Duration
		untilStdin bool
		budget     Budget
	)
	cmd := &cobra.Command{
		Use:   "meter",
		Short: "Measure disruption: sequence-numbered probes at a fixed rate until stopped",
		Long: `Send sequence-numbered probes to an echo server's disruption endpoint at a
fixed rate (default 50/s) until --duration passes, stdin closes
(--until-stdin-closes), or SIGINT/SIGTERM. Prints a "started" JSON line once the
first probe is out, then one JSON line with sent, lost, loss %, the longest gap
and every gap's time window. With --max-gap / --max-loss it exits 1 when over budget.`,
		Example: `  hybridcni probe meter --target udp://10.100.0.140:9000 --duration 30s --max-gap 2s --max-loss 1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.Validate(); err != nil {
				return err
			}
			if duration > 0 {
				s.MaxDuration = duration
			} else if !untilStdin && s.MaxDuration == 0 {
				s.MaxDuration = time.Hour
			}
			stop := make(chan struct{})
			if untilStdin {
				go func() {
					_, _ = io.Copy(io.Discard, bufio.NewReader(cmd.InOrStdin()))
					close(stop)
				}()
			}
			out := cmd.OutOrStdout()
			r, err := RunMeter(cmd.Context(), s, stop, func(at time.Time) {
				fmt.Fprintln(out, lineJSON(MeterStarted{Event: "started", Target: s.Target, At: at}))
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(out, lineJSON(r))
			// Only the limits given are checked (a zero Budget field is the default).
			if !cmd.Flags().Changed("max-gap") {
				budget.MaxGap = Unchecked
			}
			if !cmd.Flags().Changed("max-loss") {
				budget.MaxLossPct = Unchecked
			}
			return budget.Check("disruption "+s.Target, r)
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Target, "target", "", "disruption endpoint: udp://IP:PORT (echo --udp-port) or tcp://IP:PORT (echo --tcp-port)")
	f.IntVar(&s.Rate, "rate", DefaultRate, "probes per second")
	f.DurationVar(&s.ReplyTimeout, "reply-timeout", time.Second, "a probe unanswered this long is lost")
	f.DurationVar(&duration, "duration", 0, "stop after this long (0: when stopped)")
	f.DurationVar(&s.MaxDuration, "max-duration", time.Hour, "never run longer than this")
	f.BoolVar(&untilStdin, "until-stdin-closes", false, "stop when stdin reaches EOF (how the harness stops a remote meter)")
	f.DurationVar(&budget.MaxGap, "max-gap", 0, "fail (exit 1) when the longest gap exceeds this")
	f.Float64Var(&budget.MaxLossPct, "max-loss", 0, "fail (exit 1) when loss exceeds this percentage")
	return cmd
}
