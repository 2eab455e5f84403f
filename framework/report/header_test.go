package report

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
)

// The Kubernetes version a run records as a testsuite property (the
// server's, or the requested one when no cluster was reached) reaches the
// Markdown and HTML headers and the matrix's Kubernetes row, column by
// column; the header also names when, by which harness, which CNI versions
// and which files.
func TestKubernetesVersionFromJUnitIntoHeaders(t *testing.T) {
	dir := t.TempDir()
	runLabels := func(run, version string, f ...string) []string {
		return append(labels("cilium", version, f...), "run:"+run)
	}
	reached := writeJUnit(t, dir, "reached.xml", []spec{
		{text: "installs", labels: runLabels("cilium-1-16-19", "1.16.19", "install"), state: types.SpecStatePassed},
	})
	unreached := writeJUnit(t, dir, "unreached.xml", []spec{
		{node: types.NodeTypeSynchronizedBeforeSuite, state: types.SpecStateFailed, message: "no Docker engine answers"},
		{text: "installs", labels: runLabels("cilium-1-17-0", "1.17.0", "install"), state: types.SpecStateSkipped, message: "the cluster is not up"},
	})
	// The reached run wrote the requested version first, then learned the server's.
	for _, p := range []struct{ path, name, value string }{
		{reached, KubernetesRequestedProperty + ":cilium-1-16-19", "1.31.2"},
		{reached, KubernetesProperty + ":cilium-1-16-19", "v1.31.2"},
		{unreached, KubernetesRequestedProperty + ":cilium-1-17-0", "1.30.4"},
	} {
		if err := SetSuiteProperties(p.path, reporters.JUnitProperty{Name: p.name, Value: p.value}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("%d results after adding properties, want the 3 Ginkgo wrote", len(rs))
	}
	got := map[string]string{}
	for _, r := range rs {
		got[r.Run] = r.Kubernetes
	}
	if got["cilium-1-16-19"] != "v1.31.2" || got["cilium-1-17-0"] != KubernetesRequested("1.30.4") {
		t.Fatalf("Kubernetes by run: %v", got)
	}

	oldNow, oldVersion, oldSources := Now, buildinfo.Version, Sources
	defer func() { Now, buildinfo.Version, Sources = oldNow, oldVersion, oldSources }()
	Now = func() time.Time { return time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC) }
	buildinfo.Version = "v0.9.0-test"
	Sources = []string{filepath.Base(reached), filepath.Base(unreached)}
	m := Build(rs)
	header := "Made 2026-12-04T23:00:00Z by hybridcni v0.9.0-test; CNI cilium 1.16.19, 1.17.0; Kubernetes v1.31.2, 1.30.4 (requested; no cluster reached); from reached.xml, unreached.xml."
	md := m.Markdown()
	if first := strings.SplitN(md, "\n", 2)[0]; first != header {
		t.Errorf("markdown header\n got %q\nwant %q", first, header)
	}
	if row := "| Kubernetes | v1.31.2 | 1.30.4 (requested; no cluster reached) |"; !strings.Contains(md, row) {
		t.Errorf("markdown lacks the row %q:\n%s", row, md)
	}
	page, err := m.HTML("t")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Made 2026-12-04T23:00:00Z by hybridcni v0.9.0-test; CNI cilium 1.16.19, 1.17.0; Kubernetes v1.31.2, 1.30.4 (requested; no cluster reached); from reached.xml, unreached.xml.",
		`<tr class="kubernetes"><th>Kubernetes</th><td>v1.31.2</td><td>1.30.4 (requested; no cluster reached)</td></tr>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("html lacks %q", want)
		}
	}

	// Results without the property say so rather than guess.
	plain := t.TempDir()
	writeJUnit(t, plain, "old.xml", []spec{{text: "installs", labels: labels("calico", "v3.29.7", "install"), state: types.SpecStatePassed}})
	rs, _ = ReadAll(plain)
	m = Build(rs)
	if md := m.Markdown(); !strings.Contains(md, "Kubernetes version not recorded") || strings.Contains(md, "| Kubernetes |") {
		t.Errorf("without the property:\n%s", md)
	}
}

// A spec's "guide finding" report entry shows on its matrix cell as a
// finding (🔎, counted in the summary, listed apart) and never as a
// failure: the spec passed, the guide as written is what fell short.
func TestGuideFindingIsMarkedNotFailed(t *testing.T) {
	dir := t.TempDir()
	finding := "finding about the guide: on cilium 1.16.19 its BGP objects as written advertise no service address; the check goes on with the fix: add a service selector"
	writeJUnit(t, dir, "cilium.xml", []spec{
		{text: "bgp/services", labels: labels("cilium", "1.16.19", "bgp"), state: types.SpecStatePassed, finding: finding},
		{text: "bgp/sessions", labels: labels("cilium", "1.16.19", "bgp"), state: types.SpecStatePassed},
		{text: "installs", labels: labels("cilium", "1.16.19", "install"), state: types.SpecStatePassed},
	})
	rs, err := ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := Build(rs)
	col := Column{CNI: "cilium", Version: "1.16.19"}
	bgp := m.Cell("bgp", col)
	if bgp.State() != Passed || len(bgp.Failures) != 0 || len(bgp.Findings) != 1 || !strings.Contains(bgp.Findings[0], "bgp/services: "+finding) {
		t.Fatalf("bgp cell: state %s, failures %v, findings %v", bgp.State(), bgp.Failures, bgp.Findings)
	}
	if f := m.Cell("install", col).Findings; len(f) != 0 {
		t.Errorf("the finding leaked into another row: %v", f)
	}
	md := m.Markdown()
	for _, want := range []string{
		"| BGP | ✅ 🔎 PASS 2, 1 guide finding, 3s |",
		"### Guide findings",
		"- 🔎 **cilium 1.16.19**, BGP: bgp/services: " + finding,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "### Failures") || strings.Contains(md, "| Lifecycle: install | ✅ 🔎") {
		t.Errorf("a finding reads as a failure or marks another row:\n%s", md)
	}
	page, err := m.HTML("t")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<td class="passed">PASS 2, 1 guide finding, 3s 🔎<ul class="finding"><li>guide finding: bgp/services: ` + finding} {
		if !strings.Contains(page, want) {
			t.Errorf("html lacks %q:\n%s", want, page)
		}
	}
}
