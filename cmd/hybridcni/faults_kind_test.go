package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/faults"
	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/suites"
)

// The fault matrix on the offline kind tier (make fault-matrix, one CNI):
// one cluster, the normal checks, then each fault in turn. Every fault
// that applies must be injected, caught by each check it names with a
// message naming what broke, healed, and each check must pass again. Each
// runs whenever its images are cached: kube-router's (about 6-7 min on 2
// cores) and Cilium's (about 9-10 min).
func TestFaultMatrixKubeRouter(t *testing.T) {
	faultMatrix(t, kubeRouterOffline, 45*time.Minute)
}

// The same with real Cilium 1.16.19 (BGP, masquerading off); skips until
// its images and charts are built here (make cilium-images).
func TestFaultMatrixCilium(t *testing.T) {
	faultMatrix(t, ciliumFaults, 75*time.Minute) // measured on 2 cores: 9 min 0 s (2026-12-06), 29 min on 2026-12-05
}

// ciliumFaults is the offline Cilium run without its upgrade: the fault
// phase follows the install.
var ciliumFaults = offlineCNI{
	images: cilium.OfflineImages(),
	args: func(t testing.TB) []string {
		args := ciliumOffline.args(t)
		for i := 0; i < len(args); i++ {
			if args[i] == "--upgrade-to" {
				args = append(args[:i], args[i+2:]...)
				break
			}
		}
		return args
	},
	modes: []string{"--bgp", "--masquerade=false", "--cloud-nodes", "1"},
}

// faultMatrix runs one CNI's fault matrix, interrupted (and torn down)
// after limit.
func faultMatrix(t *testing.T, c offlineCNI, limit time.Duration) {
	results := keptResults(t)
	args, prefix := offlineRun(t, c, results)
	args = append(args, "--faults")
	start := time.Now()
	out, code := cli(t, limit, args...)
	t.Logf("fault matrix run: %s (exit %d)", time.Since(start).Round(time.Second), code)
	if left := leftovers(t, prefix); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	rs, err := report.ReadAll(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("no JUnit (exit %d): %v\n%s", code, err, tail(out, 60))
	}
	md, err := os.ReadFile(filepath.Join(results, suites.FaultsFile))
	if err != nil {
		t.Fatalf("no %s (exit %d): %v\n%s", suites.FaultsFile, code, err, tail(out, 60))
	}
	t.Logf("%s:\n%s", suites.FaultsFile, md)
	for _, p := range faultMatrixProblems(rs) {
		t.Error(p)
	}
	if code != 0 {
		t.Errorf("exit %d\n%s", code, tail(out, 60))
	}
}

// faultMatrixProblems judges a fault run: no spec failed; every fault of
// the catalogue was injected or skipped because it does not apply; each
// injected fault was caught by and healed for every check it names.
func faultMatrixProblems(rs []report.Result) []string {
	var out []string
	type seen struct{ injected, skipped bool }
	byFault := map[string]*seen{}
	caught := map[string]bool{}
	healed := map[string]bool{}
	for _, r := range rs {
		if r.State == report.Failed {
			out = append(out, fmt.Sprintf("%s: %s", r.Spec, firstLine(r.Message)))
		}
		fault, check := "", ""
		for _, l := range r.Labels {
			if v, ok := strings.CutPrefix(l, "fault:"); ok {
				fault = v
			}
			if v, ok := strings.CutPrefix(l, "check:"); ok {
				check = v
			}
		}
		if fault == "" {
			continue
		}
		if byFault[fault] == nil {
			byFault[fault] = &seen{}
		}
		switch {
		case strings.HasSuffix(r.Spec, ": inject"):
			switch {
			case r.State == report.Passed:
				byFault[fault].injected = true
			case r.State == report.Skipped && strings.Contains(r.Message, "does not apply"):
				byFault[fault].skipped = true
			case r.State == report.Skipped:
				out = append(out, fmt.Sprintf("fault %s was not injected: %s", fault, firstLine(r.Message)))
			}
		case check != "" && strings.HasSuffix(r.Spec, " fails"):
			caught[fault+" "+check] = r.State == report.Passed
		case check != "":
			healed[fault+" "+check] = r.State == report.Passed
		}
	}
	for _, f := range faults.Catalogue() {
		s := byFault[f.Label()]
		if s == nil {
			out = append(out, fmt.Sprintf("fault %s is not in the run", f.Name()))
			continue
		}
		if !s.injected {
			if !s.skipped {
				out = append(out, fmt.Sprintf("fault %s was not injected (see its inject step)", f.Name()))
			}
			continue
		}
		for _, c := range f.BreaksChecks() {
			k := f.Label() + " " + strings.ReplaceAll(c, "/", ".")
			if !caught[k] {
				out = append(out, fmt.Sprintf("fault %s: check %s did not catch it", f.Name(), c))
			}
			if !healed[k] {
				out = append(out, fmt.Sprintf("fault %s: check %s did not pass again after heal", f.Name(), c))
			}
		}
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// The fault matrix judge flags a fault not caught, not healed, not
// injected for a reason other than "does not apply", or missing.
func TestFaultMatrixProblems(t *testing.T) {
	res := func(spec, fault, check string, st report.State, msg string) report.Result {
		r := report.Result{Spec: spec, Phase: suites.FaultsPhase, State: st, Message: msg, Labels: []string{"fault:" + fault}}
		if check != "" {
			r.Labels = append(r.Labels, "check:"+check)
		}
		return r
	}
	var ok []report.Result
	for _, f := range faults.Catalogue() {
		if f.Name() == "vxlan-port-dropped" {
			ok = append(ok, res("fault: "+f.Name()+": inject", f.Label(), "", report.Skipped, "does not apply: routed"))
			continue
		}
		ok = append(ok, res("fault: "+f.Name()+": inject", f.Label(), "", report.Passed, ""),
			res("fault: "+f.Name()+": heal", f.Label(), "", report.Passed, ""))
		for _, c := range f.BreaksChecks() {
			l := strings.ReplaceAll(c, "/", ".")
			ok = append(ok, res("fault: "+f.Name()+": "+c+" fails", f.Label(), l, report.Passed, ""),
				res("fault: "+f.Name()+": healed: "+c, f.Label(), l, report.Passed, ""))
		}
	}
	if got := faultMatrixProblems(ok); len(got) != 0 {
		t.Fatalf("a good run judged bad: %v", got)
	}
	flip := func(spec string, st report.State, msg string) []report.Result {
		out := append([]report.Result{}, ok...)
		for i := range out {
			if out[i].Spec == spec {
				out[i].State, out[i].Message = st, msg
			}
		}
		return out
	}
	for name, rs := range map[string][]report.Result{
		"not caught":  flip("fault: pod-to-node-dropped: pod-to-node fails", report.Failed, "check pod-to-node passed"),
		"not healed":  flip("fault: pod-to-node-dropped: healed: pod-to-node", report.Failed, "timeout"),
		"not run":     flip("fault: pod-to-node-dropped: inject", report.Skipped, "needs node shell"),
		"heal failed": flip("fault: pod-to-node-dropped: heal", report.Failed, "rule still there"),
		"missing":     ok[3:],
	} {
		if got := faultMatrixProblems(rs); len(got) == 0 {
			t.Errorf("%s: not flagged", name)
		}
	}
}
