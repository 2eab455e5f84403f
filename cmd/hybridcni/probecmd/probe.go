// Package probecmd holds the Cobra commands of the programs the harness's
// images and lab namespaces run, echo and probe, over the library packages
// framework/echo and framework/probe. cmd/hybridcni registers them; the lab
// tests of framework/probe run them in-process.
package probecmd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/probe"
)

// Probe returns `hybridcni probe` (one expectation from the current
// place) with its `meter` subcommand (the disruption meter).
func Probe() *cobra.Command {
	var s probe.Spec
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
			s.Expect = probe.Outcome(expect)
			r, err := probe.Run(cmd.Context(), s)
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
	f.StringVar(&expect, "expect", string(probe.Success), "success or failure")
	f.StringVar(&s.ExpectSource, "expect-source", "", "source IP the echo server must report (http .../clientip or udp)")
	f.DurationVar(&s.Timeout, "timeout", probe.DefaultTimeout, "how long to wait for an answer")
	cmd.AddCommand(newMeterCommand())
	return cmd
}

func newMeterCommand() *cobra.Command {
	var (
		s          probe.MeterSpec
		duration   time.Duration
		untilStdin bool
		budget     probe.Budget
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
			r, err := probe.RunMeter(cmd.Context(), s, stop, func(at time.Time) {
				fmt.Fprintln(out, lineJSON(probe.MeterStarted{Event: "started", Target: s.Target, At: at}))
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(out, lineJSON(r))
			// Only the limits given are checked (a zero Budget field is the default).
			if !cmd.Flags().Changed("max-gap") {
				budget.MaxGap = probe.Unchecked
			}
			if !cmd.Flags().Changed("max-loss") {
				budget.MaxLossPct = probe.Unchecked
			}
			return budget.Check("disruption "+s.Target, r)
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Target, "target", "", "disruption endpoint: udp://IP:PORT (echo --udp-port) or tcp://IP:PORT (echo --tcp-port)")
	f.IntVar(&s.Rate, "rate", probe.DefaultRate, "probes per second")
	f.DurationVar(&s.ReplyTimeout, "reply-timeout", time.Second, "a probe unanswered this long is lost")
	f.DurationVar(&duration, "duration", 0, "stop after this long (0: when stopped)")
	f.DurationVar(&s.MaxDuration, "max-duration", time.Hour, "never run longer than this")
	f.BoolVar(&untilStdin, "until-stdin-closes", false, "stop when stdin reaches EOF (how the harness stops a remote meter)")
	f.DurationVar(&budget.MaxGap, "max-gap", 0, "fail (exit 1) when the longest gap exceeds this")
	f.Float64Var(&budget.MaxLossPct, "max-loss", 0, "fail (exit 1) when loss exceeds this percentage")
	return cmd
}

// lineJSON is v as one line of JSON.
func lineJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
