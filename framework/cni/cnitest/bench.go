package cnitest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// StepTimes collects the timings drivers record, per step.
type StepTimes struct {
	mu    sync.Mutex
	order []string
	steps map[string]cni.Timings
}

// Record is a cni.Options.Record function.
func (s *StepTimes) Record(step string, t cni.Timings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.steps == nil {
		s.steps = map[string]cni.Timings{}
	}
	if _, ok := s.steps[step]; !ok {
		s.order = append(s.order, step)
	}
	s.steps[step] = s.steps[step].Add(t)
}

// Report prints a table of the steps (total, waiting for the cluster,
// harness work, harness share) and reports per-step metrics averaged
// over b.N.
func (s *StepTimes) Report(b *testing.B) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum cni.Timings
	var lines []string
	n := time.Duration(b.N)
	for _, step := range s.order {
		t := s.steps[step]
		sum = sum.Add(t)
		lines = append(lines, line(step, t, n))
		key := metricName(step)
		b.ReportMetric((t.Total / n).Seconds(), key+"-s")
		b.ReportMetric((t.Waiting / n).Seconds(), key+"-waiting-s")
		b.ReportMetric((t.Harness() / n).Seconds(), key+"-harness-s")
	}
	lines = append(lines, line("ALL", sum, n))
	b.ReportMetric(share(sum), "harness-%")
	b.ReportMetric(100*float64(sum.Helm)/float64(max(sum.Total, 1)), "helm-%")
	b.Logf("lifecycle steps on the API tier (mean of %d):\n%s", b.N, strings.Join(lines, "\n"))
}

func line(step string, t cni.Timings, n time.Duration) string {
	r := func(d time.Duration) time.Duration { return (d / n).Round(time.Millisecond) }
	return fmt.Sprintf("%-30s total %8s = waiting %8s + helm %8s + harness %8s  (harness/total %5.1f%%)",
		step, r(t.Total), r(t.Waiting), r(t.Helm), r(t.Harness()), share(t))
}

func share(t cni.Timings) float64 {
	if t.Total <= 0 {
		return 0
	}
	return 100 * float64(t.Harness()) / float64(t.Total)
}

func metricName(step string) string {
	r := strings.NewReplacer(" -> ", "-to-", " ", "-")
	return r.Replace(step)
}

// Steps lists the recorded step names, sorted.
func (s *StepTimes) Steps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.order...)
	sort.Strings(out)
	return out
}
