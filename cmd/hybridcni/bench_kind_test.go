package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/internal/testlock"
)

// Kind-tier benchmarks of the offline Cilium upgrade run (1.16.19 ->
// 1.17.0). They skip, saying so, without the images (make node-image), and
// run one cluster at a time under the kind lock.

// benchRun runs the offline Cilium upgrade once with extra flags and
// returns its wall time and results folder; a failed run fails b.
func benchRun(b *testing.B, extra ...string) (time.Duration, string) {
	b.Helper()
	results := keptResults(b)
	args, _ := offlineRun(b, ciliumOffline, results)
	args = append(args, extra...)
	start := time.Now()
	out, code := cli(b, 45*time.Minute, args...)
	took := time.Since(start)
	if _, err := report.ReadAll(filepath.Join(results, "junit.xml")); err != nil {
		b.Fatalf("hybridcni %s: exit %d, no results: %v\n%s", strings.Join(extra, " "), code, err, tail(out, 40))
	}
	if code != 0 {
		// A run that failed a check still measured what it ran: the
		// figures are printed with the failures named, not dropped.
		fmt.Printf("run %s failed (exit %d): %s\n", strings.Join(extra, " "), code, strings.Join(failedSpecs(b, results), "; "))
		keepFailedRun(b, results)
	}
	return took, results
}

// failedSpecs names the failed specs of a results folder with their first line.
func failedSpecs(b *testing.B, results string) []string {
	rs, err := report.ReadAll(filepath.Join(results, "junit.xml"))
	if err != nil {
		b.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		if r.State == report.Failed {
			out = append(out, r.Spec+": "+strings.SplitN(r.Message, "\n", 2)[0])
		}
	}
	return out
}

// checksRun counts the checks that ran (passed or failed) in a results folder.
func checksRun(b *testing.B, results string) int {
	rs, err := report.ReadAll(filepath.Join(results, "junit.xml"))
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, r := range rs {
		if r.State != report.Skipped && slices.ContainsFunc(r.Labels, func(l string) bool { return strings.HasPrefix(l, "check:") }) {
			n++
		}
	}
	return n
}

// Checks in every phase (install, after the hop, after rollback) against
// the same run with checks after install only, as the run was before the
// catalogue; target: at most +60 % wall time.
func BenchmarkOfflineCiliumPhases(b *testing.B) {
	testlock.Exclusive(b, "kind-tier")
	for i := 0; i < b.N; i++ {
		one, r1 := benchRun(b, "--label-filter", "phase:install")
		all, r3 := benchRun(b)
		n1, n3 := checksRun(b, r1), checksRun(b, r3)
		ratio := all.Seconds() / one.Seconds()
		b.ReportMetric(one.Seconds(), "s/install-only")
		b.ReportMetric(all.Seconds(), "s/all-phases")
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("offline cilium upgrade: checks after install only %s (%d checks ran), in every phase %s (%d checks ran): ratio %.2f (target <= 1.60)\n",
			one.Round(time.Second), n1, all.Round(time.Second), n3, ratio)
	}
}

// The spread of hop loss and longest gap over 5 repeated upgrades and
// rollbacks on one cluster, beside the spread of their baselines (the same
// pairs, nothing changing) and the meter's own probe rate.
func BenchmarkOfflineCiliumHopSpread(b *testing.B) {
	testlock.Exclusive(b, "kind-tier")
	const repeats = 5
	for i := 0; i < b.N; i++ {
		_, results := benchRun(b, "--label-filter", "phase:install", "--repeat-hops", fmt.Sprint(repeats))
		paths, _ := filepath.Glob(filepath.Join(results, "disruption", "*.json"))
		for _, kind := range []string{"upgrade", "rollback"} {
			var hopLoss, baseLoss, hopGap, baseGap []float64
			for _, p := range paths {
				tl, err := report.ReadTimeline(p)
				if err != nil {
					b.Fatal(err)
				}
				if !strings.HasPrefix(tl.Hop, kind+" ") || !strings.Contains(tl.Hop, " of ") {
					continue
				}
				d := tl.Summary()
				hopLoss = append(hopLoss, d.LossPercent)
				hopGap = append(hopGap, d.LongestGapMs)
				if d.Baseline != nil {
					baseLoss = append(baseLoss, d.Baseline.LossPercent)
					baseGap = append(baseGap, d.Baseline.LongestGapMs)
				}
			}
			if len(hopLoss) != repeats {
				b.Fatalf("%d repeated %s timelines in %s, want %d", len(hopLoss), kind, results, repeats)
			}
			lo, med, hi := spread(hopLoss)
			blo, bmed, bhi := spread(baseLoss)
			glo, gmed, ghi := spread(hopGap)
			bglo, bgmed, bghi := spread(baseGap)
			b.ReportMetric(hi-lo, kind+"-loss-spread-%")
			b.ReportMetric(bhi-blo, kind+"-baseline-loss-spread-%")
			fmt.Printf("%d %ss between 1.16.19 and 1.17.0: loss %% min/median/max %.2f/%.2f/%.2f, baseline %.2f/%.2f/%.2f; longest gap ms %.0f/%.0f/%.0f, baseline %.0f/%.0f/%.0f\n",
				repeats, kind, lo, med, hi, blo, bmed, bhi, glo, gmed, ghi, bglo, bgmed, bghi)
		}
	}
}

// spread is the minimum, median and maximum of xs (zeros when empty).
func spread(xs []float64) (lo, med, hi float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}
