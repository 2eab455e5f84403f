package probe

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hybridcni/hybridcni/framework/report"
)

// Attribute returns, for each gap, the texts of the events that overlap it:
// a span overlapping the gap's window, or an instant inside it, the window
// widened by tolerance on each side (one probe interval: a gap's edges are
// known only that closely). Broad context spans (the whole hop, a driver
// step) are not causes: they overlap every gap of the hop. An empty list
// means the gap is unattributed.
func Attribute(gaps []Gap, events []report.Event, tolerance time.Duration) [][]string {
	sorted := slices.Clone(events)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	out := make([][]string, len(gaps))
	for i, g := range gaps {
		from, to := g.Start.Add(-tolerance), g.End.Add(tolerance)
		seen := map[string]bool{}
		for _, e := range sorted {
			if !isCause(e) {
				continue
			}
			end := e.End
			if !e.Span() {
				end = e.Start
			}
			if e.Start.After(to) || end.Before(from) {
				continue
			}
			if !seen[e.Text] {
				seen[e.Text] = true
				out[i] = append(out[i], e.Text)
			}
		}
	}
	return out
}

func isCause(e report.Event) bool {
	switch e.Kind {
	case report.EventHop:
		return false
	case report.EventStep:
		return !e.Span()
	}
	return true
}

// figures turns one meter result into report figures.
func figures(r MeterResult) report.Figures {
	return report.Figures{Sent: r.Sent, Lost: r.Lost, LossPercent: r.LossPct, LongestGapMs: r.LongestGapMS,
		Held: r.Held, ProcessDelayMaxMs: max(r.EchoHeldMaxMS, r.ReadLateMaxMS), SocketDrops: int(r.SocketDrops + r.EchoSocketDrops)}
}

func timelineGaps(gaps []Gap, causes [][]string) []report.TimelineGap {
	var out []report.TimelineGap
	for i, g := range gaps {
		tg := report.TimelineGap{Start: g.Start, End: g.End, MS: g.MS, Lost: g.Lost}
		if causes != nil {
			tg.Causes = causes[i]
		}
		out = append(out, tg)
	}
	return out
}

// BuildTimeline puts a hop on one time axis: every pair's figures and gaps
// during the hop, attributed to the events overlapping them (within one
// probe interval), beside the same pair's baseline (nil: none measured).
// Pairs are matched to their baseline by name.
func BuildTimeline(hop string, baseline, during *DisruptionReport, events []report.Event) *report.Timeline {
	t := &report.Timeline{Hop: hop, Events: slices.Clone(events)}
	sort.SliceStable(t.Events, func(i, j int) bool { return t.Events[i].Start.Before(t.Events[j].Start) })
	base := map[string]PairDisruption{}
	if baseline != nil {
		for _, p := range baseline.Pairs {
			base[p.Name] = p
			if t.BaselineStart.IsZero() || p.Started.Before(t.BaselineStart) {
				t.BaselineStart = p.Started
			}
			t.BaselineEnd = later(t.BaselineEnd, p.Stopped)
		}
	}
	if during == nil {
		return t
	}
	for _, p := range during.Pairs {
		if t.Start.IsZero() || p.Started.Before(t.Start) {
			t.Start = p.Started
		}
		t.End = later(t.End, p.Stopped)
		if t.IntervalMS == 0 {
			t.IntervalMS = p.IntervalMS
		}
		interval := time.Duration(p.IntervalMS * float64(time.Millisecond))
		tp := report.TimelinePair{Pair: p.Name, Hop: figures(p.MeterResult),
			Gaps: timelineGaps(p.Gaps, Attribute(p.Gaps, events, interval))}
		if b, ok := base[p.Name]; ok {
			f := figures(b.MeterResult)
			tp.Baseline = &f
			tp.BaselineGaps = timelineGaps(b.Gaps, nil)
		}
		t.Pairs = append(t.Pairs, tp)
	}
	return t
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// CheckHop judges a hop's timeline against the budget, pair by pair. Each
// pair over budget is named with its figures, its baseline beside them
// ("how noisy is the environment alone"), and its longest gap's time and
// the events during it. A baseline over budget is said too: the hop still
// fails (the figure users take to a change review must not hide loss), but
// the message tells a noisy environment from the CNI.
func (b Budget) CheckHop(t *report.Timeline) error {
	b = b.Effective()
	var errs []error
	for _, p := range t.Pairs {
		var over []string
		if b.MaxGap > 0 && p.Hop.LongestGapMs > ms(b.MaxGap) {
			over = append(over, fmt.Sprintf("longest gap %.0f ms exceeds the budget of %s", p.Hop.LongestGapMs, b.MaxGap))
		}
		if b.MaxLossPct > 0 && p.Hop.LossPercent > b.MaxLossPct {
			over = append(over, fmt.Sprintf("loss %.2f%% exceeds the budget of %.2f%%", p.Hop.LossPercent, b.MaxLossPct))
		}
		if len(over) == 0 {
			continue
		}
		msg := fmt.Sprintf("%s: %s (%d of %d probes lost)", p.Pair, joinAnd(over), p.Hop.Lost, p.Hop.Sent)
		if p.Hop.SocketDrops > 0 {
			msg += fmt.Sprintf("; meanwhile the probe processes' own sockets dropped %d datagrams with a full buffer (the echo's count covers all its clients): a busy probe process, not the network, lost those", p.Hop.SocketDrops)
		}
		if p.Baseline == nil {
			msg += "; no baseline measured"
		} else {
			msg += "; baseline on this pair with nothing changing: " + p.Baseline.String()
			if (b.MaxGap > 0 && p.Baseline.LongestGapMs > ms(b.MaxGap)) || (b.MaxLossPct > 0 && p.Baseline.LossPercent > b.MaxLossPct) {
				msg += " (the environment alone is over budget: a noisy runner, not only the CNI)"
			}
		}
		if g, ok := longest(p.Gaps); ok {
			msg += "; " + g.Describe(p.Pair)
		}
		errs = append(errs, errors.New(msg))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("disruption budget (%s) exceeded during %s:\n%w", b, t.Hop, errors.Join(errs...))
}

func longest(gaps []report.TimelineGap) (report.TimelineGap, bool) {
	if len(gaps) == 0 {
		return report.TimelineGap{}, false
	}
	best := gaps[0]
	for _, g := range gaps[1:] {
		if g.MS > best.MS {
			best = g
		}
	}
	return best, true
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return fmt.Sprintf("%s and %s", s[0], s[1])
}

// BudgetOn says which figure of repeated hops the budget is judged on.
type BudgetOn string

const (
	OnMedian BudgetOn = "median"
	OnWorst  BudgetOn = "worst"
)

// CheckDistribution judges repeated hops: each pair's median (or worst)
// loss and longest gap against the budget, the baseline's beside it.
func (b Budget) CheckDistribution(d report.Distribution, on BudgetOn) error {
	b = b.Effective()
	pick := func(s report.Stat) float64 {
		if on == OnWorst {
			return s.Worst
		}
		return s.Median
	}
	var errs []error
	for _, p := range d.Pairs {
		var over []string
		if g := pick(p.LongestGapMs); b.MaxGap > 0 && g > ms(b.MaxGap) {
			over = append(over, fmt.Sprintf("%s longest gap %.0f ms exceeds the budget of %s", on, g, b.MaxGap))
		}
		if l := pick(p.LossPercent); b.MaxLossPct > 0 && l > b.MaxLossPct {
			over = append(over, fmt.Sprintf("%s loss %.2f%% exceeds the budget of %.2f%%", on, l, b.MaxLossPct))
		}
		if len(over) == 0 {
			continue
		}
		msg := fmt.Sprintf("%s over %d hops: %s (median/worst: loss %.2f/%.2f%%, gap %.0f/%.0f ms)", p.Pair, p.Runs, joinAnd(over),
			p.LossPercent.Median, p.LossPercent.Worst, p.LongestGapMs.Median, p.LongestGapMs.Worst)
		if p.BaselineLossPercent != nil {
			msg += fmt.Sprintf("; baseline median/worst: loss %.2f/%.2f%%, gap %.0f/%.0f ms", p.BaselineLossPercent.Median,
				p.BaselineLossPercent.Worst, p.BaselineLongestGapMs.Median, p.BaselineLongestGapMs.Worst)
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}
