package suites

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	_ "github.com/hybridcni/hybridcni/framework/cni/all" // every CNI's profile and driver
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/probe"
)

// Options configure one execution of the suites.
type Options struct {
	// Runs to qualify, one after the other; each run's ordered container
	// provisions and tears down its own cluster.
	Runs []config.Run
	// Provider builds the environment ("kind" or "simulated").
	Provider string
	// Topology is the kind provider's topology (name or file; default "default").
	Topology string
	// NodeImage overrides the kind node image pinned for the Kubernetes version.
	NodeImage string
	// ResultsDir receives junit.xml, report.json and diagnostics/.
	ResultsDir string
	// LabelFilter selects specs (Ginkgo's --label-filter syntax).
	LabelFilter string
	// DryRun lists the specs without running them.
	DryRun bool
	// Keep leaves the environment up after the run, for debugging.
	Keep bool
	// Verbose streams spec progress.
	Verbose bool
	// Disruption is the traffic budget of an upgrade.
	Disruption probe.Budget
	// Timeout bounds the whole run.
	Timeout time.Duration
	// WaitTimeout bounds each wait for the cluster (readiness, pre-flight,
	// deletion); default 10 minutes.
	WaitTimeout time.Duration
}

// Paths of the reports a run writes under ResultsDir.
const (
	JUnitFile       = "junit.xml"
	JSONFile        = "report.json"
	DiagnosticsDir  = "diagnostics"
	defaultRunLimit = 2 * time.Hour
)

// state is what the specs read: set once per process before RunSpecs.
var state struct {
	opts     Options
	provider Provider
	ctx      context.Context
}

type testingT struct{ failed bool }

func (t *testingT) Fail() { t.failed = true }

// Run defines the specs for opts.Runs and runs them in this process, one
// run after the other (each provisions and tears down its own cluster). It
// returns nil when every spec passed or was skipped. Ginkgo allows one
// RunSpecs (so one Run) per process: `hybridcni matrix` starts a process per
// entry.
// Ginkgo's own flags (when run by go test or the ginkgo CLI) are kept;
// options that are set override them.
func Run(ctx context.Context, opts Options) error {
	if len(opts.Runs) == 0 {
		return config.Invalid("runs", "no run to qualify", "pass a run configuration (-f) or flags")
	}
	// Input the runs can be judged on before anything is created.
	for _, r := range opts.Runs {
		if _, err := cni.NewDriver(r.CNI.Name, nil, cni.Options{}); err != nil {
			return err
		}
		if _, err := chart.NewSource(r.CNI.ChartSource); err != nil {
			return err
		}
	}
	dry, _ := ginkgo.GinkgoConfiguration()
	opts.DryRun = opts.DryRun || dry.DryRun
	if !opts.DryRun {
		p, err := LookupProvider(opts.Provider, opts)
		if err != nil {
			return err
		}
		state.provider = p
	}
	if opts.ResultsDir == "" {
		opts.ResultsDir = "results"
	}
	if err := os.MkdirAll(opts.ResultsDir, 0o755); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = defaultRunLimit
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = 10 * time.Minute
	}
	state.opts, state.ctx = opts, ctx

	gomega.RegisterFailHandler(ginkgo.Fail)
	if !opts.DryRun {
		ginkgo.SynchronizedBeforeSuite(func(ctx ginkgo.SpecContext) []byte {
			// A plain message: a blocker's finding and fix, not a dump of the error's fields.
			if err := state.provider.Prepare(ctx); err != nil {
				ginkgo.Fail(fmt.Sprintf("prepare the %s provider: %v", state.provider.Name(), err))
			}
			return nil
		}, func([]byte) {}, ginkgo.NodeTimeout(30*time.Minute))
	}
	for _, r := range opts.Runs {
		define(r)
	}
	suiteCfg, reporterCfg := ginkgo.GinkgoConfiguration()
	if opts.LabelFilter != "" {
		suiteCfg.LabelFilter = opts.LabelFilter
	}
	suiteCfg.DryRun = suiteCfg.DryRun || opts.DryRun
	suiteCfg.Timeout = opts.Timeout
	reporterCfg.JUnitReport = filepath.Join(opts.ResultsDir, JUnitFile)
	reporterCfg.JSONReport = filepath.Join(opts.ResultsDir, JSONFile)
	if opts.Verbose || suiteCfg.DryRun {
		reporterCfg.Verbose = true
	}
	reporterCfg.NoColor = reporterCfg.NoColor || os.Getenv("NO_COLOR") != "" || os.Getenv("CI") != "" || !isTerminal(os.Stdout)

	t := &testingT{}
	ginkgo.RunSpecs(t, "hybridcni", suiteCfg, reporterCfg)
	if t.failed {
		return errors.New("some specs failed: see " + filepath.Join(opts.ResultsDir, JUnitFile) + " and " + filepath.Join(opts.ResultsDir, DiagnosticsDir))
	}
	return nil
}

// specTimeout bounds one spec's context.
func specTimeout() ginkgo.SpecTimeout { return ginkgo.SpecTimeout(20 * time.Minute) }

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
