package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/faults"
)

// `hybridcni faults` lists every fault with the checks it breaks and what
// it needs; -o json the same; another format exits 2.
func TestFaultsListing(t *testing.T) {
	code, out, errOut := run(t, "faults")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 1 {
			rows[f[0]] = f
		}
	}
	for _, f := range faults.Catalogue() {
		if row := rows[f.Name()]; len(row) < 2 || row[1] != strings.Join(f.BreaksChecks(), ",") {
			t.Errorf("the listing lacks fault %s and what it breaks (%v):\n%s", f.Name(), row, out)
		}
	}
	code, out, errOut = run(t, "faults", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Faults []faults.Listing `json:"faults"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Faults) != len(faults.Catalogue()) {
		t.Fatalf("json: %v, %d faults:\n%s", err, len(got.Faults), out)
	}
	if got.Faults[0].Name != "agent-affinity-removed" || got.Faults[0].Breaks[0] != "placement" {
		t.Errorf("first fault %+v", got.Faults[0])
	}
	if code, _, errOut := run(t, "faults", "-o", "yaml"); code != exitInvalid || !strings.Contains(errOut, "--output") {
		t.Errorf("-o yaml: exit %d, %q; want 2 naming --output", code, errOut)
	}
}

// run --faults --dry-run lists the fault phases with their labels.
func TestRunFaultsDryRun(t *testing.T) {
	charts := charttest.Dir(t)
	out, code := cli(t, 2*time.Minute, "run", "--dry-run", "--faults", "--cni", "cilium", "--version", "1.16.18", "--chart-repo", charts, "--results", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		`step +fault: agent-affinity-removed: inject\n`,
		`check +fault: agent-affinity-removed: placement fails\n`,
		`phase:faults, version:1\.16\.18, fault:agent-affinity-removed, check:placement`,
		`check +fault: crd-recreated: cleanup/crds fails\n`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("the listing lacks %s:\n%s", want, out)
		}
	}
	out, _ = cli(t, 2*time.Minute, "run", "--dry-run", "--cni", "cilium", "--version", "1.16.18", "--chart-repo", charts, "--results", t.TempDir())
	if strings.Contains(out, "fault:") {
		t.Errorf("a run without --faults lists faults")
	}
}
