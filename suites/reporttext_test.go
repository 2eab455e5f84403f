package suites

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/framework/router"
	"github.com/hybridcni/hybridcni/internal/texttest"
)

// assertionTexts are the failure texts the suites write themselves: the
// description of every Gomega assertion (Expect(...).To(m, "format", ...))
// and every Fail(fmt.Sprintf("format", ...)) in suites/*.go, read from the
// source so that a new check's text is covered without listing it here.
// Verbs become neutral words (arg1, arg2), so a doubled word found is the
// format's own or comes from joining it with an error.
func assertionTexts(t *testing.T) []assertion {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	verb := regexp.MustCompile(`%[-+# 0-9.*\[\]]*[a-zA-Z]`)
	fill := func(lit *ast.BasicLit) string {
		f, err := strconv.Unquote(lit.Value)
		if err != nil {
			return ""
		}
		n := 0
		return strings.ReplaceAll(verb.ReplaceAllStringFunc(strings.ReplaceAll(f, "%%", "\x00"), func(string) string {
			n++
			return fmt.Sprintf("arg%d", n)
		}), "\x00", "%")
	}
	var out []assertion
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr: // Expect(x).To(matcher, "description", ...)
				if (fn.Sel.Name == "To" || fn.Sel.Name == "NotTo" || fn.Sel.Name == "ToNot") && len(call.Args) >= 2 {
					if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						out = append(out, assertion{fill(lit), isErrorMatcher(call.Args[0])})
					}
				}
			case *ast.Ident: // Fail(fmt.Sprintf("format", ...))
				if fn.Name == "Fail" && len(call.Args) == 1 {
					if inner, ok := call.Args[0].(*ast.CallExpr); ok && len(inner.Args) > 0 {
						if lit, ok := inner.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							out = append(out, assertion{text: fill(lit)})
						}
					}
				}
			}
			return true
		})
	}
	if len(out) < 50 {
		t.Fatalf("found %d assertion texts in suites/*.go; the harvest is broken", len(out))
	}
	return out
}

// assertion is one failure text of the suites; onError: the assertion is
// on an error (Succeed, HaveOccurred), so Gomega adds the error's text.
type assertion struct {
	text    string
	onError bool
}

func isErrorMatcher(m ast.Expr) bool {
	call, ok := m.(*ast.CallExpr)
	if !ok {
		return false
	}
	id, ok := call.Fun.(*ast.Ident)
	return ok && (id.Name == "Succeed" || id.Name == "HaveOccurred")
}

// checkErrors are failures as the framework's checks make them, through
// their own types and formatters: the router's checks (sessions, service
// addresses, withdrawal, graceful restart), CNI readiness, configuration.
func checkErrors() []error {
	n1 := router.Node{Name: "hcni-cilium-1-16-19-worker", Address: "10.80.0.4"}
	rib := "peers [10.80.0.2 AS65001 established (12 prefixes), 10.80.0.4 AS65001 active]; routes [10.85.0.0/25 via 10.80.0.4 from 10.80.0.4, 10.85.0.128/25 via 10.80.0.2 from 10.80.0.2]"
	notReady := (&cni.Readiness{Problems: []cni.Problem{
		{Object: "pod kube-system/cilium-x7k2p", Reason: "crash-looping", Detail: "cilium-agent: back-off 40s restarting failed container"},
		{Object: "node hcni-cilium-1-16-19-worker2", Reason: "not ready", Detail: "NetworkReady=false: cni plugin not initialized"},
	}}).Err()
	return []error{
		&router.CheckError{Check: "peer-established", Node: n1, Reason: "session is active", Waited: 3 * time.Minute, Router: rib},
		&router.CheckError{Check: "advertised-by-only", Prefix: "198.18.1.2/32", Reason: n1.String() + ": not advertised (session active)", Waited: 3 * time.Minute, Router: rib},
		&router.CheckError{Check: "withdrawn-by-all", Prefix: "198.18.0.1/32", Reason: "still advertised: 198.18.0.1/32 via 10.80.0.4 from 10.80.0.4", Waited: 3 * time.Minute, Router: rib},
		&router.CheckError{Check: "graceful-restart", Node: n1, Prefix: "10.85.0.0/25", Reason: "route 10.85.0.0/25 withdrawn 2.1s after the agent restarted, within the restart time 120s", Waited: 40 * time.Second, Router: rib},
		&router.CheckError{Check: "exact-blocks", Node: n1, Reason: "missing 10.85.0.0/25; extra 10.85.1.0/25", Waited: 3 * time.Minute, Router: rib},
		fmt.Errorf("%w after %s: %w", cni.ErrNotReady, 10*time.Minute, notReady),
		config.Invalid("network.podCIDR", "10.80.0.0/16 overlaps network.nodeCIDR 10.80.0.0/24", "pick a pod CIDR apart from the node CIDR"),
		errors.New(`dial tcp 10.96.0.10:53: i/o timeout`),
	}
}

// gomegaFailure is the failure message Gomega writes for
// Expect(err).NotTo(HaveOccurred(), description), as the JUnit file holds it.
func gomegaFailure(err error, description string) string {
	var msg string
	g := gomega.NewGomega(func(m string, _ ...int) { msg = m })
	g.Expect(err).NotTo(gomega.HaveOccurred(), description)
	return msg
}

// The Markdown and HTML reports made from JUnit holding the failures the
// suites and checks produce (every assertion text of suites/*.go joined
// with the checks' errors as Gomega writes them, the guide finding, the
// catalogue's skip reasons, a missing capability, a set-up failure) repeat
// no word back to back.
func TestReportTextHasNoDoubledWords(t *testing.T) {
	r := config.Default()
	r.Name, r.CNI = "cilium-1-16-19-to-1-17-0-bgp", config.CNI{Name: config.Cilium, Version: "1.16.19", UpgradeTo: "1.17.0"}
	r.BGP.Enabled, r.Network.Masquerade, r.Nodes.Hybrid, r.Nodes.Cloud = true, false, 2, 1
	r.Complete()
	l := planRun(r, []string{"1.17.0"}, nil, nil)

	errs := checkErrors()
	var failures []string
	for i, a := range assertionTexts(t) {
		if a.onError {
			failures = append(failures, gomegaFailure(errs[i%len(errs)], a.text))
			continue
		}
		var msg string // what Gomega writes for any other matcher: the description first
		gomega.NewGomega(func(m string, _ ...int) { msg = m }).Expect(0).To(gomega.BeNumerically(">=", 1), a.text)
		failures = append(failures, msg)
	}
	for _, err := range errs {
		failures = append(failures, gomegaFailure(err, ""))
	}
	// The guide finding, through its own formatter and the profile's fix.
	p, err := cni.Lookup(config.Cilium)
	if err != nil {
		t.Fatal(err)
	}
	fixer, ok := p.(cni.GuideFixer)
	if !ok {
		t.Fatal("the cilium profile is no longer a GuideFixer: pick another profile with a guide fix")
	}
	_, fix := fixer.ServiceAdvertisementFix(r)
	probe := advertisedService{kind: cni.ClusterIP, name: "bgp-adv-clusterip-install", address: "10.96.37.245"}
	finding := guideFinding(r, probe, errs[1], fix)

	// Every spec of the run, with its real title and labels: failures,
	// skips (the catalogue's own "does not apply" reasons, a missing
	// capability) and passes in turn.
	env := &Env{Lacking: map[Capability]string{Router: "the topology has no router (topology default-no-router)"}}
	rep := types.Report{SuiteDescription: "hybridcni"}
	n := 0
	for _, ph := range l.phases {
		for _, s := range l.specs[ph.Name] {
			sr := types.SpecReport{LeafNodeType: types.NodeTypeIt, LeafNodeText: s.title, LeafNodeLabels: s.labels,
				ContainerHierarchyTexts: []string{runTitle(r), phaseTitle(ph)}, RunTime: time.Second}
			switch {
			case !s.step && s.entry.Skip != "":
				sr.State, sr.Failure = types.SpecStateSkipped, types.Failure{Message: s.entry.Skip}
			case !s.step && len(s.entry.Check.Capabilities()) > 0 && n%3 == 0:
				sr.State, sr.Failure = types.SpecStateSkipped, types.Failure{Message: "kind provider " + env.Missing(Router)}
			case n < len(failures):
				sr.State, sr.Failure = types.SpecStateFailed, types.Failure{Message: failures[n]}
				n++
			default:
				sr.State = types.SpecStatePassed
			}
			if strings.Contains(s.title, "service address") {
				sr.ReportEntries = append(sr.ReportEntries, types.ReportEntry{Name: report.GuideFindingEntry, Value: types.WrapEntryValue(finding)})
			}
			rep.SpecReports = append(rep.SpecReports, sr)
		}
	}
	// The failures the run's specs did not take, as more specs of the last phase.
	last := l.phases[len(l.phases)-1]
	for ; n < len(failures); n++ {
		rep.SpecReports = append(rep.SpecReports, types.SpecReport{LeafNodeType: types.NodeTypeIt, State: types.SpecStateFailed,
			LeafNodeText: fmt.Sprintf("check %d", n), ContainerHierarchyTexts: []string{runTitle(r), phaseTitle(last)},
			LeafNodeLabels: append(append(runLabels(r), phaseLabels(last)...), "feature:"+checks.Install),
			Failure:        types.Failure{Message: failures[n]}})
	}
	rep.SpecReports = append(rep.SpecReports, types.SpecReport{LeafNodeType: types.NodeTypeSynchronizedBeforeSuite, State: types.SpecStateFailed,
		Failure: types.Failure{Message: "prepare the kind provider: doctor found 1 blocker(s): docker-engine: no Docker engine answers at unix:///var/run/docker.sock (fix: start Docker)"}})

	dir := t.TempDir()
	path := filepath.Join(dir, JUnitFile)
	if err := reporters.GenerateJUnitReport(rep, path); err != nil {
		t.Fatal(err)
	}
	if err := report.SetSuiteProperties(path, reporters.JUnitProperty{Name: report.KubernetesRequestedProperty + ":" + r.Name, Value: "1.31.2"}); err != nil {
		t.Fatal(err)
	}
	results, err := report.ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := report.Build(results)
	md := m.Markdown()
	if !strings.Contains(md, "### Failures") || !strings.Contains(md, "### Guide findings") || !strings.Contains(md, "### Skipped, and why") {
		t.Fatalf("the report lacks failures, findings or skips, so the scan below proves little:\n%s", md)
	}
	for i, line := range strings.Split(md, "\n") {
		if w := texttest.DoubledWord(line); w != "" {
			t.Errorf("markdown line %d says %q:\n%s", i+1, w, line)
		}
	}
	page, err := m.HTML("CNI compatibility on EKS hybrid nodes")
	if err != nil {
		t.Fatal(err)
	}
	if w, text := texttest.DoubledWordHTML(page); w != "" {
		t.Errorf("the HTML page says %q:\n%s", w, text)
	}
}
