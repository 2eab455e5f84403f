package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// cli runs the test binary as hybridcni in its own process.
func cli(t testing.TB, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	// At the timeout the run is interrupted as a user would (Ctrl-C), so it
	// tears down what it made; killed only if the teardown hangs.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Minute
	cmd.Env = append(os.Environ(), asCLI+"=1", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("hybridcni %s: %v", strings.Join(args, " "), err)
	}
	return string(out), code
}

// A dry run lists every phase's checks from the catalogue with their
// labels, says it ran nothing, and writes no report that could read as a
// pass; report refuses the empty folder.
func TestRunDryRunListsTheCatalogueAndWritesNothing(t *testing.T) {
	charts := charttest.Dir(t)
	for _, c := range []struct{ cni, version, to, run string }{
		{"cilium", "1.16.18", "1.17.18", "cilium-1-16-18-to-1-17-18"},
		{"calico", "v3.29.6", "", "calico-3-29-6"},
	} {
		t.Run(c.cni, func(t *testing.T) {
			results := t.TempDir()
			args := []string{"run", "--dry-run", "--cni", c.cni, "--version", c.version, "--chart-repo", charts, "--results", results}
			if c.to != "" {
				args = append(args, "--upgrade-to", c.to)
			}
			out, code := cli(t, 2*time.Minute, args...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if !strings.Contains(out, "DRY RUN: nothing was created and nothing ran") {
				t.Errorf("the listing does not say nothing ran:\n%s", out)
			}
			r := config.Default()
			r.CNI = config.CNI{Name: c.cni, Version: c.version, UpgradeTo: c.to}
			subject := checks.SubjectOf(r)
			phases := []checks.Phase{{Name: "install", Stage: checks.AfterInstall, Version: c.version}}
			if c.to != "" {
				phases = append(phases, checks.Phase{Name: "upgrade-2", Stage: checks.AfterUpgrade, Version: c.to},
					checks.Phase{Name: "rollback", Stage: checks.AfterRollback, Version: c.version})
			}
			for _, ph := range phases {
				for _, e := range checks.For(subject, ph) {
					// A row of the run's list: kind check, the check's title, its labels below.
					row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.run) + ` .* check  +` + regexp.QuoteMeta(e.Title) + `\n +labels: cni:` + c.cni + `, run:` + c.run + `,`)
					if !row.MatchString(out) {
						t.Errorf("the listing lacks check %q of run %s with its labels", e.Title, c.run)
					}
					for _, l := range e.Labels() {
						if !strings.Contains(out, l) {
							t.Errorf("the listing lacks label %s", l)
						}
					}
				}
			}
			if entries, _ := os.ReadDir(results); len(entries) != 0 {
				t.Errorf("a dry run wrote %v into the results folder", entries)
			}
			rout, rcode := cli(t, time.Minute, "report", results)
			if rcode == 0 || strings.Contains(rout, "PASS") {
				t.Errorf("report on a dry run's folder: exit %d:\n%s", rcode, rout)
			}
		})
	}
}

// A label filter that selects nothing, or does not parse, is bad input on
// --label-filter (exit 2), before anything is created.
func TestRunLabelFilterSelectingNothingExits2(t *testing.T) {
	charts := charttest.Dir(t)
	for _, f := range []string{"feature:nothing", "feature:bgp && (", "version:9.9.9"} {
		out, code := cli(t, time.Minute, "run", "--cni", "cilium", "--version", "1.16.18", "--chart-repo", charts,
			"--label-filter", f, "--results", t.TempDir())
		if code != 2 || !strings.Contains(out, "--label-filter") {
			t.Errorf("filter %q: exit %d, want 2 naming --label-filter:\n%s", f, code, out)
		}
	}
}

// The lifecycle runs end to end on the API tier; a run made to fail (agents
// unschedulable) exits 1 and leaves diagnostics naming the cause.
func TestRunOnTheAPITierCollectsDiagnosticsOnFailure(t *testing.T) {
	if _, err := testenv.FindBinaries(); err != nil {
		t.Skipf("API tier: skipped: %v", err)
	}
	charts := charttest.Dir(t)
	results := t.TempDir()
	values := filepath.Join(t.TempDir(), "unschedulable.yaml")
	// The agents ask for more CPU than any node has: they stay Pending.
	os.WriteFile(values, []byte("resources:\n  requests:\n    cpu: \"100000\"\n"), 0o644)
	out, code := cli(t, 10*time.Minute, "run", "--provider", "simulated", "--chart-repo", charts, "--cni", "cilium",
		"--version", "1.16.19", "--values", values, "--results", results, "--label-filter", "feature:install", "--wait-timeout", "20s")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (install must fail):\n%s", code, out)
	}
	dirs, _ := filepath.Glob(filepath.Join(results, "diagnostics", "*install*"))
	if len(dirs) != 1 {
		t.Fatalf("diagnostics folders %v, want one for the install spec:\n%s", dirs, out)
	}
	pods, err := os.ReadFile(filepath.Join(dirs[0], "kubernetes", "kube-system", "pods.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pods), "unschedulable") {
		t.Errorf("pods.txt does not show the unschedulable agents:\n%s", pods)
	}
	for _, f := range []string{"kubernetes/nodes.txt", "kubernetes/kube-system/events.txt", "cni/readiness.json"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Errorf("diagnostics lack %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(results, "junit.xml")); err != nil {
		t.Errorf("no JUnit report: %v", err)
	}
}

// An unreachable chart source stops a kind run before anything is created,
// with the field and the fix in one plain line (no error-struct dump).
func TestRunUnreachableChartSourceCreatesNothing(t *testing.T) {
	out, code := cli(t, 2*time.Minute, "run", "--cni", "cilium", "--version", "1.16.19",
		"--chart-repo", "https://127.0.0.1:1/", "--kubernetes-version", "1.37.0",
		"--run-name", "unreachable-chart", "--results", t.TempDir())
	if code == 0 {
		t.Fatalf("exit 0 with an unreachable chart source:\n%s", out)
	}
	for _, want := range []string{"nothing created: cni.chartSource: cannot read https://127.0.0.1:1/", "(fix: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "<*fmt.wrapError") {
		t.Errorf("the failure dumps the error's fields:\n%s", out)
	}
	if names, _ := exec.Command("docker", "ps", "-a", "--filter", "name=unreachable-chart", "--format", "{{.Names}}").Output(); len(strings.TrimSpace(string(names))) > 0 {
		t.Errorf("containers created: %s", names)
	}
}
