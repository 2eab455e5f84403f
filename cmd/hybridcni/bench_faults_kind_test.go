package main

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/internal/testlock"
)

// The fault matrix on one CNI (one cluster, every fault in turn) beside the
// same run's normal checks: the run's wall time against the target of at
// most 10 minutes, the faults' share, and each fault's time to detect
// (inject, then its checks failing) and whole cost (inject, catch, heal,
// pass again), slowest first. A run whose matrix has problems still prints
// its figures, naming them.
func BenchmarkFaultMatrixKubeRouter(b *testing.B) {
	benchFaultMatrix(b, "kube-router", kubeRouterOffline)
}

// The same on Cilium 1.16.19 (BGP, masquerading off, a cloud node).
func BenchmarkFaultMatrixCilium(b *testing.B) { benchFaultMatrix(b, "cilium 1.16.19", ciliumFaults) }

func benchFaultMatrix(b *testing.B, name string, c offlineCNI) {
	testlock.Exclusive(b, "kind-tier")
	for i := 0; i < b.N; i++ {
		results := keptResults(b)
		args, _ := offlineRun(b, c, results)
		args = append(args, "--faults")
		start := time.Now()
		out, code := cli(b, 45*time.Minute, args...)
		wall := time.Since(start)
		rs, err := report.ReadAll(filepath.Join(results, "junit.xml"))
		if err != nil {
			b.Fatalf("exit %d, no results: %v\n%s", code, err, tail(out, 40))
		}
		if problems := faultMatrixProblems(rs); code != 0 || len(problems) > 0 {
			fmt.Printf("fault matrix run failed (exit %d): %s\n", code, strings.Join(problems, "; "))
			keepFailedRun(b, results)
		}
		costs := faultCosts(rs)
		var faultsT, normalT time.Duration
		for _, r := range rs {
			if labelValue(r, "fault:") == "" {
				normalT += r.Duration
			}
		}
		for _, c := range costs {
			faultsT += c.cost
		}
		ratio := faultsT.Seconds() / normalT.Seconds()
		b.ReportMetric(wall.Seconds(), "s/run")
		b.ReportMetric(faultsT.Seconds(), "s/faults")
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("fault matrix, %s: run %s (target <= 10m0s: ratio %.2f); normal checks %s; %d faults %s: ratio faults/normal %.2f\n",
			name, wall.Round(time.Second), wall.Seconds()/(10*time.Minute).Seconds(), normalT.Round(time.Second), len(costs), faultsT.Round(time.Second), ratio)
		for i, c := range costs {
			if i == 5 {
				break
			}
			fmt.Printf("  %-32s detect %6s  whole %6s\n", c.fault, c.detect.Round(time.Second), c.cost.Round(time.Second))
		}
	}
}

type faultCost struct {
	fault        string
	detect, cost time.Duration
}

// faultCosts sums each fault's specs: detect is its inject step and its
// must-fail checks, cost adds the heal and the checks passing again;
// slowest first.
func faultCosts(rs []report.Result) []faultCost {
	by := map[string]*faultCost{}
	for _, r := range rs {
		f := labelValue(r, "fault:")
		if f == "" || r.State == report.Skipped {
			continue
		}
		if by[f] == nil {
			by[f] = &faultCost{fault: f}
		}
		by[f].cost += r.Duration
		if strings.HasSuffix(r.Spec, ": inject") || strings.HasSuffix(r.Spec, " fails") {
			by[f].detect += r.Duration
		}
	}
	var out []faultCost
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b faultCost) int { return cmp.Compare(b.cost, a.cost) })
	return out
}

func labelValue(r report.Result, prefix string) string {
	for _, l := range r.Labels {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return ""
}

// faultCosts counts a fault's inject and must-fail specs as its time to
// detect and every spec of it as its cost; skipped specs and specs of no
// fault count for nothing.
func TestFaultCosts(t *testing.T) {
	spec := func(name, fault string, d time.Duration, st report.State) report.Result {
		r := report.Result{Spec: name, Duration: d, State: st}
		if fault != "" {
			r.Labels = []string{"fault:" + fault, "check:x"}
		}
		return r
	}
	rs := []report.Result{
		spec("connectivity", "", 40*time.Second, report.Passed),
		spec("fault a: inject", "a", 2*time.Second, report.Passed),
		spec("fault a: check x fails", "a", 10*time.Second, report.Passed),
		spec("fault a: heal", "a", 5*time.Second, report.Passed),
		spec("fault a: check x passes again", "a", 3*time.Second, report.Passed),
		spec("fault b: inject", "b", 1*time.Second, report.Passed),
		spec("fault b: check x fails", "b", 90*time.Second, report.Passed),
		spec("fault c: inject", "c", 0, report.Skipped),
	}
	got := faultCosts(rs)
	want := []faultCost{{"b", 91 * time.Second, 91 * time.Second}, {"a", 12 * time.Second, 20 * time.Second}}
	if !slices.Equal(got, want) {
		t.Fatalf("faultCosts = %+v, want %+v", got, want)
	}
}
