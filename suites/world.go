package suites

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/diagnostics"
)

// maxDiagnosed bounds how many failed specs get a full diagnostics bundle.
const maxDiagnosed = 3

// world is one run's state, shared by its ordered specs.
type world struct {
	run     config.Run
	env     *Env
	driver  cni.Driver
	cluster *cni.Cluster

	// hops are the planned upgrade hops; phase is the phase running now.
	hops  []string
	phase checks.Phase
	// version is the CNI version the cluster runs now.
	version string

	installed bool // the release is installed and ready
	// baseRevision is the release revision a rollback returns to (0: 1,
	// the install's; the existing provider: the revision found).
	baseRevision int
	uninstalled  bool
	// broken says why the checks of this phase cannot judge a version (a
	// failed hop); cleared by a successful rollback.
	broken   string
	workload *workload
	// installIPAM is the IPAM state after install, which no later phase
	// may change (recorded with the workload).
	installIPAM *cni.IPAM
	// tables are the probe result tables of this run, for diagnostics.
	tables    []string
	diagnosed int
	// passTook is how long each check took to pass in this run (its
	// slowest pass), which bounds its wait under a held fault.
	passTook map[string]passTime
	// byDesign sums what the running check body waited by design (a settle
	// window), not for the cluster; once, what it waited that no later run
	// of it waits again (the guide's service probe, once per version).
	byDesign, once time.Duration
	// guideVerdicts is, per CNI version, what the guide's BGP objects as
	// written did when first tried in this run: "" they advertise services,
	// else the finding about the guide (guideServiceFix).
	guideVerdicts map[string]string
}

func (w *world) provisionTimeout() time.Duration { return 30 * time.Minute }
func (w *world) upgradeTimeout() time.Duration   { return hopTimeout }

// hopTimeout bounds one upgrade hop or rollback, with its meter.
const hopTimeout = 45 * time.Minute

func (w *world) resultsDir() string { return state.opts.ResultsDir }

func (w *world) provision(ctx SpecContext) {
	p := state.provider
	// The chart source and driver are checked before anything is created.
	var source *chart.Source
	var err error
	if state.opts.Lifecycle != LifecycleNone { // checks only: no chart is loaded
		source, err = chart.NewSource(w.run.CNI.ChartSource)
		Expect(err).NotTo(HaveOccurred())
	}
	By(fmt.Sprintf("provisioning a %s cluster: %d hybrid and %d cloud nodes", p.Name(), w.run.Nodes.Hybrid, w.run.Nodes.Cloud))
	env, err := p.Provision(ctx, w.run, w.resultsDir())
	if err != nil {
		Fail(fmt.Sprintf("provision the %s environment: %v", p.Name(), err))
	}
	w.env = env
	recordKubernetes(ctx, w.run.Name, env.Kube, GinkgoWriter) // the JUnit file's Kubernetes version
	DeferCleanup(func(ctx SpecContext) {
		if state.opts.Keep {
			fmt.Fprintf(GinkgoWriter, "keeping the environment: KUBECONFIG=%s\n", env.Kubeconfig)
			return
		}
		Expect(p.Teardown(ctx, env)).To(Succeed(), "tear down the %s environment", p.Name())
	}, NodeTimeout(15*time.Minute))
	if env.Router != nil {
		// The router's record of each node's KEEPALIVEs from now on, so
		// bgp/parameters judges gaps already seen (framework/router).
		kctx, stop := context.WithCancel(context.Background())
		env.Router.WatchKeepalives(kctx)
		DeferCleanup(stop)
	}
	cluster, err := cni.NewCluster(env.REST)
	Expect(err).NotTo(HaveOccurred())
	w.cluster = cluster
	w.driver, err = cni.NewDriver(w.run.CNI.Name, cluster, cni.Options{Source: source, Log: GinkgoWriter, Timeout: state.opts.WaitTimeout,
		// The driver's steps (pre-flight, helm upgrade) go on the disruption timeline.
		Observe: w.observeDriver, Record: w.recordDriverStep})
	Expect(err).NotTo(HaveOccurred())
}

// require skips the spec when the environment lacks a capability.
func (w *world) require(caps ...Capability) {
	if why := w.env.Missing(caps...); why != "" {
		Skip(fmt.Sprintf("%s provider %s", w.env.Provider, why))
	}
}

// requireInstalled skips when the CNI is not installed and ready.
func (w *world) requireInstalled() {
	if !w.installed {
		Skip("the CNI is not installed and ready (see the install spec)")
	}
}

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	s = strings.Trim(slugRE.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// diagnoseFailure collects diagnostics after a failed spec.
func (w *world) diagnoseFailure(ctx SpecContext) {
	if !CurrentSpecReport().Failed() || w.env == nil {
		return
	}
	w.diagnosed++
	if w.diagnosed > maxDiagnosed {
		fmt.Fprintf(GinkgoWriter, "diagnostics: not collected for this failure (the first %d were)\n", maxDiagnosed)
		return
	}
	dir := filepath.Join(w.resultsDir(), DiagnosticsDir, fmt.Sprintf("%02d-%s", w.diagnosed, slug(CurrentSpecReport().LeafNodeText)))
	err := diagnostics.Collect(ctx, dir, w.diagnosticSources()...)
	if err != nil {
		fmt.Fprintf(GinkgoWriter, "diagnostics incomplete: %v\n", err)
	}
	AddReportEntry("diagnostics", dir)
}

// facts are the CNI's facts (framework/cni, stated in the CNI's package).
func (w *world) facts() cni.Facts { return checks.SubjectOf(w.run).Facts }

func (w *world) diagnosticSources() []diagnostics.Source {
	ns := []string{"kube-system", workloadNamespace}
	if p, err := cni.Lookup(w.run.CNI.Name); err == nil {
		ns = append(cni.Namespaces(p), workloadNamespace)
	}
	srcs := []diagnostics.Source{diagnostics.Kubernetes{Client: w.env.Kube, Namespaces: ns}}
	srcs = append(srcs, w.env.Diagnostics...)
	if len(w.tables) > 0 {
		tables := strings.Join(w.tables, "\n")
		srcs = append(srcs, diagnostics.SourceFunc{N: "probes", F: func(_ context.Context, dir string) error {
			return os.WriteFile(filepath.Join(dir, "tables.txt"), []byte(tables), 0o644)
		}})
	}
	if w.driver != nil {
		srcs = append(srcs, diagnostics.SourceFunc{N: "cni", F: w.collectCNIStatus})
	}
	return srcs
}
