package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
)

type spec struct {
	node       types.NodeType
	text       string
	labels     []string
	state      types.SpecState
	message    string
	disruption *Disruption
	finding    string // a GuideFindingEntry report entry
}

// writeJUnit writes a real Ginkgo JUnit file through Ginkgo's own reporter.
func writeJUnit(t *testing.T, dir, name string, specs []spec) string {
	t.Helper()
	r := types.Report{SuiteDescription: "hybridcni", SuiteSucceeded: true}
	for _, s := range specs {
		node := s.node
		if node == 0 {
			node = types.NodeTypeIt
		}
		sr := types.SpecReport{
			LeafNodeType: node, LeafNodeText: s.text, LeafNodeLabels: s.labels,
			State: s.state, RunTime: 1500 * time.Millisecond,
		}
		switch s.state {
		case types.SpecStateFailed:
			sr.Failure = types.Failure{Message: s.message + "\nmore detail"}
		case types.SpecStateSkipped:
			sr.Failure = types.Failure{Message: s.message}
		}
		if s.disruption != nil {
			sr.ReportEntries = append(sr.ReportEntries, types.ReportEntry{Name: DisruptionEntry, Value: types.WrapEntryValue(*s.disruption)})
		}
		if s.finding != "" {
			sr.ReportEntries = append(sr.ReportEntries, types.ReportEntry{Name: GuideFindingEntry, Value: types.WrapEntryValue(s.finding)})
		}
		r.SpecReports = append(r.SpecReports, sr)
	}
	path := filepath.Join(dir, name)
	if err := reporters.GenerateJUnitReport(r, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func labels(cni, version string, features ...string) []string {
	l := []string{"cni:" + cni, "version:" + version}
	for _, f := range features {
		l = append(l, "feature:"+f)
	}
	return l
}

func sampleResults(t *testing.T) string {
	dir := t.TempDir()
	writeJUnit(t, dir, "cilium-1.16.19.xml", []spec{
		{text: "installs on hybrid nodes", labels: labels("cilium", "1.16.19", "install"), state: types.SpecStatePassed},
		{text: "pod-to-pod/cross-node", labels: labels("cilium", "1.16.19", "vxlan", "conformance"), state: types.SpecStatePassed},
		{text: "advertises pod CIDRs", labels: labels("cilium", "1.16.19", "bgp"), state: types.SpecStateFailed, message: "no route for 10.85.0.0/25 from node hybrid-1"},
		{text: "upgrades", labels: labels("cilium", "1.16.19", "upgrade"), state: types.SpecStatePassed,
			disruption: &Disruption{Sent: 1000, Lost: 3, LossPercent: 0.3, LongestGapMs: 420}},
	})
	writeJUnit(t, dir, "cilium-1.17.18.xml", []spec{
		{text: "installs on hybrid nodes", labels: labels("cilium", "1.17.18", "install"), state: types.SpecStatePassed},
		{text: "advertises pod CIDRs", labels: labels("cilium", "1.17.18", "bgp"), state: types.SpecStatePassed},
	})
	sub := filepath.Join(dir, "calico")
	os.Mkdir(sub, 0o755)
	writeJUnit(t, sub, "calico-v3.29.7.xml", []spec{
		{text: "installs on hybrid nodes", labels: labels("calico", "v3.29.7", "install"), state: types.SpecStatePassed},
		{text: "sees the pod address", labels: labels("calico", "v3.29.7", "masquerade"), state: types.SpecStateSkipped, message: "needs Docker"},
		{text: "helper spec", state: types.SpecStatePassed},
	})
	writeJUnit(t, sub, "calico-v3.30.7.xml", []spec{
		{text: "installs on hybrid nodes", labels: labels("calico", "v3.30.7", "install", "custom-thing"), state: types.SpecStatePassed},
	})
	return dir
}

func TestReadJUnitKeepsLabelsStatesAndDisruption(t *testing.T) {
	rs, err := ReadAll(sampleResults(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 10 {
		t.Fatalf("read %d specs, want 10", len(rs))
	}
	var bgp, upgrade *Result
	for i := range rs {
		switch {
		case rs[i].Spec == "advertises pod CIDRs" && rs[i].Version == "1.16.19":
			bgp = &rs[i]
		case rs[i].Spec == "upgrades":
			upgrade = &rs[i]
		}
	}
	if bgp == nil || bgp.State != Failed || bgp.Message != "no route for 10.85.0.0/25 from node hybrid-1" || bgp.CNI != "cilium" {
		t.Fatalf("failed spec read as %+v", bgp)
	}
	if upgrade == nil || upgrade.Disruption == nil || upgrade.Disruption.LongestGapMs != 420 || upgrade.Duration != 1500*time.Millisecond {
		t.Fatalf("upgrade spec read as %+v", upgrade)
	}
}

func TestMatrixCellsAndOrder(t *testing.T) {
	rs, _ := ReadAll(sampleResults(t))
	m := Build(rs)
	var cols []string
	for _, c := range m.Columns {
		cols = append(cols, c.String())
	}
	if got := strings.Join(cols, ","); got != "calico v3.29.7,calico v3.30.7,cilium 1.16.19,cilium 1.17.18" {
		t.Errorf("columns = %s", got)
	}
	var rows []string
	for _, r := range m.Rows {
		rows = append(rows, r.Label)
	}
	if got := strings.Join(rows, ","); got != "conformance,install,upgrade,vxlan,masquerade,bgp,custom-thing" {
		t.Errorf("rows = %s (guide order, unknown features last)", got)
	}
	c16 := Column{CNI: "cilium", Version: "1.16.19"}
	if s := m.Cell("bgp", c16).State(); s != Failed {
		t.Errorf("bgp on 1.16.19 = %s", s)
	}
	if s := m.Cell("bgp", Column{CNI: "cilium", Version: "1.17.18"}).State(); s != Passed {
		t.Errorf("bgp on 1.17.18 = %s", s)
	}
	if s := m.Cell("masquerade", Column{CNI: "calico", Version: "v3.29.7"}).State(); s != Skipped {
		t.Errorf("masquerade on calico = %s", s)
	}
	if m.Cell("bgp", Column{CNI: "calico", Version: "v3.29.7"}) != nil {
		t.Error("a cell with no spec must be nil (not run)")
	}
	if m.Unlabelled != 1 {
		t.Errorf("unlabelled = %d", m.Unlabelled)
	}
	if sum := m.Cell("upgrade", c16).Summary(); !strings.Contains(sum, "longest gap 420 ms") || !strings.Contains(sum, "PASS 1") {
		t.Errorf("upgrade summary = %q", sum)
	}
}

func TestMarkdownAndHTML(t *testing.T) {
	rs, _ := ReadAll(sampleResults(t))
	m := Build(rs)
	md := m.Markdown()
	for _, want := range []string{
		"| Feature | calico v3.29.7 | calico v3.30.7 | cilium 1.16.19 | cilium 1.17.18 |",
		"| BGP | — not run | — not run | ❌ FAIL 1/1, 1.5s | ✅ PASS 1, 1.5s |",
		"⏭️ SKIP",
		"- **cilium 1.16.19**, BGP: advertises pod CIDRs: no route for 10.85.0.0/25 from node hybrid-1",
		"1 specs carried no cni label",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	page, err := m.HTML("Hybrid nodes CNI matrix")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>Hybrid nodes CNI matrix</title>", `<td class="failed">FAIL 1/1`, "no route for 10.85.0.0/25", `<td class="none">not run</td>`, "needs Docker", "<style>"} {
		if !strings.Contains(page, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page must be self-contained")
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadAll(dir); err == nil || !strings.Contains(err.Error(), "no JUnit files") {
		t.Errorf("empty folder: %v", err)
	}
	bad := filepath.Join(dir, "bad.xml")
	os.WriteFile(bad, []byte("not xml"), 0o644)
	if _, err := ReadAll(bad); err == nil || !strings.Contains(err.Error(), "bad.xml") {
		t.Errorf("bad file: %v", err)
	}
}

func TestSetupNodesCountOnlyWhenTheyFail(t *testing.T) {
	dir := t.TempDir()
	writeJUnit(t, dir, "ok.xml", []spec{
		{node: types.NodeTypeReportAfterSuite, text: "Autogenerated ReportAfterSuite", state: types.SpecStatePassed},
		{text: "installs", labels: labels("cilium", "1.16.19", "install"), state: types.SpecStatePassed},
	})
	writeJUnit(t, dir, "broken.xml", []spec{
		{node: types.NodeTypeSynchronizedBeforeSuite, state: types.SpecStateFailed, message: "no Docker engine answers"},
	})
	rs, err := ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := Build(rs)
	if m.Unlabelled != 0 || len(m.Setup) != 1 {
		t.Fatalf("unlabelled %d, setup %+v: a passed ReportAfterSuite is not a spec, a failed BeforeSuite is reported", m.Unlabelled, m.Setup)
	}
	if md := m.Markdown(); !strings.Contains(md, "Set-up failures") || !strings.Contains(md, "no Docker engine answers") {
		t.Errorf("markdown does not show the set-up failure:\n%s", md)
	}
	page, _ := m.HTML("x")
	if !strings.Contains(page, "no Docker engine answers") {
		t.Error("html does not show the set-up failure")
	}
}

// Runs of one CNI version (an upgrade run, a masquerading run, two modes
// named apart) are separate columns, not one merged cell.
func TestRunsOfOneVersionAreSeparateColumns(t *testing.T) {
	dir := t.TempDir()
	run := func(name string, extra ...string) []string {
		return append(labels("cilium", "1.16.19", "masquerade"), append([]string{"run:" + name}, extra...)...)
	}
	writeJUnit(t, dir, "upgrade.xml", []spec{{text: "masquerade off", labels: run("cilium-1-16-19-to-1-17-0-bgp-nomasq", "upgrade-to:1.17.0"), state: types.SpecStatePassed}})
	writeJUnit(t, dir, "defaults.xml", []spec{{text: "masquerade on", labels: run("cilium-1-16-19"), state: types.SpecStateFailed, message: "saw the pod address"}})
	writeJUnit(t, dir, "other.xml", []spec{{text: "masquerade on", labels: run("cilium-1-16-19-again"), state: types.SpecStatePassed}})
	rs, err := ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := Build(rs)
	var titles []string
	for _, c := range m.Columns {
		titles = append(titles, m.Title(c))
	}
	want := "cilium 1.16.19 (cilium-1-16-19)|cilium 1.16.19 (cilium-1-16-19-again)|cilium 1.16.19 → 1.17.0"
	if got := strings.Join(titles, "|"); got != want {
		t.Fatalf("columns %q, want %q", got, want)
	}
	up := Column{CNI: "cilium", Version: "1.16.19", UpgradeTo: "1.17.0", Run: "cilium-1-16-19-to-1-17-0-bgp-nomasq"}
	if s := m.Cell("masquerade", up).State(); s != Passed {
		t.Errorf("upgrade run's masquerade cell = %s, want passed (not merged with the failing run)", s)
	}
	md := m.Markdown()
	for _, w := range []string{"| Feature | cilium 1.16.19 (cilium-1-16-19) | cilium 1.16.19 (cilium-1-16-19-again) | cilium 1.16.19 → 1.17.0 |",
		"- **cilium 1.16.19 (cilium-1-16-19)**, Masquerading: masquerade on: saw the pod address"} {
		if !strings.Contains(md, w) {
			t.Errorf("markdown lacks %q:\n%s", w, md)
		}
	}
	html, err := m.HTML("t")
	if err != nil || !strings.Contains(html, "<th>cilium 1.16.19 → 1.17.0</th>") {
		t.Errorf("HTML heading missing (err %v):\n%s", err, html)
	}
}
