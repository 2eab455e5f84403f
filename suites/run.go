package suites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	_ "github.com/hybridcni/hybridcni/framework/cni/all" // every CNI's profile and driver
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/plan"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/internal/table"
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
	// Faults adds the fault phases (suites/faults.go): after install's
	// checks, each fault in turn, its checks must fail, heal, pass again.
	Faults bool
	// Lifecycle is what a run does to a CNI already installed (the
	// existing provider): LifecycleNone checks it as it is, LifecycleUpgrade
	// checks, upgrades to cni.upgradeTo and checks again; "" or
	// LifecycleFull is the whole lifecycle, install through delete.
	Lifecycle string
	// Rollback adds the rollback phase to LifecycleUpgrade.
	Rollback bool
	// ProviderOptions are a provider's own options (the existing
	// provider's kubeconfig, router API, ...).
	ProviderOptions any
}

// Lifecycle modes (Options.Lifecycle).
const (
	LifecycleNone    = "none"
	LifecycleUpgrade = "upgrade"
	LifecycleFull    = "full"
)

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
	suiteCfg, reporterCfg := ginkgo.GinkgoConfiguration()
	opts.DryRun = opts.DryRun || suiteCfg.DryRun
	if opts.LabelFilter == "" {
		opts.LabelFilter = suiteCfg.LabelFilter
	}
	// Everything that can be judged without a cluster, before anything is created.
	layouts, err := Layout(ctx, opts)
	if err != nil {
		return err
	}
	p, err := LookupProvider(opts.Provider, opts)
	if err != nil {
		return err
	}
	if v, ok := p.(Validator); ok {
		if err := v.Validate(opts); err != nil {
			return err
		}
	}
	if opts.Timeout < 0 || opts.WaitTimeout < 0 {
		return config.Invalid("--timeout", "a timeout is negative", "give a positive duration such as 90m, or 0 for the default")
	}
	if opts.DryRun {
		// A dry run lists; it writes no report that could read as a pass.
		return writeListing(os.Stdout, os.Stderr, layouts)
	}
	state.provider = p
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
	ginkgo.SynchronizedBeforeSuite(func(ctx ginkgo.SpecContext) []byte {
		// A plain message: a blocker's finding and fix, not a dump of the error's fields.
		if err := state.provider.Prepare(ctx); err != nil {
			ginkgo.Fail(fmt.Sprintf("prepare the %s provider: %v", state.provider.Name(), err))
		}
		return nil
	}, func([]byte) {}, ginkgo.NodeTimeout(30*time.Minute))
	for _, l := range layouts {
		define(l)
	}
	// The label filter was applied while laying out the specs: lifecycle
	// steps always run, so Ginkgo must not filter them away.
	suiteCfg.LabelFilter = ""
	suiteCfg.Timeout = opts.Timeout
	reporterCfg.JUnitReport = filepath.Join(opts.ResultsDir, JUnitFile)
	reporterCfg.JSONReport = filepath.Join(opts.ResultsDir, JSONFile)
	if opts.Verbose {
		reporterCfg.Verbose = true
	}
	reporterCfg.NoColor = reporterCfg.NoColor || os.Getenv("NO_COLOR") != "" || os.Getenv("CI") != "" || !isTerminal(os.Stdout)

	t := &testingT{}
	ginkgo.RunSpecs(t, "hybridcni", suiteCfg, reporterCfg)
	// The Kubernetes version each run's cluster reported (or the requested
	// one, where no cluster was reached), for the report's header and rows.
	if err := writeKubernetesVersions(reporterCfg.JUnitReport, opts.Runs); err != nil {
		fmt.Fprintf(os.Stderr, "the Kubernetes versions are not in %s: %v\n", reporterCfg.JUnitReport, err)
	}
	if t.failed {
		return errors.New("some specs failed: see " + filepath.Join(opts.ResultsDir, JUnitFile) + " and " + filepath.Join(opts.ResultsDir, DiagnosticsDir))
	}
	return nil
}

// Validator is implemented by providers that can judge options before
// anything is created (a topology that does not exist, say).
type Validator interface {
	Validate(opts Options) error
}

// Layout lays out every run's specs from the check catalogue: the upgrade
// hops each run goes through (from its chart source), its phases, and the
// checks the label filter selects. A filter that does not parse, or that
// selects no check of any run, is a *config.Error on --label-filter.
func Layout(ctx context.Context, opts Options) ([]*layout, error) {
	var filter func([]string) bool
	if opts.LabelFilter != "" {
		f, err := types.ParseLabelFilter(opts.LabelFilter)
		if err != nil {
			return nil, config.Invalid("--label-filter", fmt.Sprintf("%q does not parse: %s", opts.LabelFilter, firstLine(err.Error())),
				"write labels joined with &&, ||, ! and parentheses, e.g. 'feature:bgp && version:1.17.0'")
		}
		filter = f
	}
	var out []*layout
	matched := 0
	for _, r := range opts.Runs {
		if _, err := cni.NewDriver(r.CNI.Name, nil, cni.Options{}); err != nil {
			return nil, err
		}
		var hops []string
		var hopErr error
		if opts.Lifecycle != LifecycleNone { // checks only: no upgrade to plan
			hops, hopErr = PlanHops(ctx, r)
		}
		var cerr *config.Error
		if errors.As(hopErr, &cerr) {
			return nil, hopErr
		}
		if r.CNI.UpgradeTo == "" {
			hopErr = nil // the install step says what is wrong with the source
		}
		l := planPhases(r, hops, hopErr, filter, phasesFor(opts, r))
		if opts.Faults { // the fault phases (suites/faults.go)
			planFaults(l, filter)
		}
		matched += l.matched
		out = append(out, l)
	}
	if filter != nil && matched == 0 {
		return nil, config.Invalid("--label-filter", fmt.Sprintf("%q selects no step or check of any run", opts.LabelFilter),
			"list the labels with --dry-run (cni:, run:, version:, phase:, check:, feature:) and filter on those")
	}
	return out, nil
}

// PlanHops returns the versions a run's upgrade goes through, one minor
// at a time, from what its chart source offers. A version the source does
// not have is a *config.Error naming the field; an unreachable source is
// returned as is (the upgrade step then fails, saying why).
func PlanHops(ctx context.Context, r config.Run) ([]string, error) {
	p, err := cni.Lookup(r.CNI.Name)
	if err != nil {
		return nil, err
	}
	source, err := chart.NewSource(r.CNI.ChartSource)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	available, err := source.Versions(ctx, p.ChartName())
	if err != nil {
		return nil, fmt.Errorf("list %s versions in %s: %w", p.ChartName(), r.CNI.ChartSource, err)
	}
	pl, err := plan.Build(r, p, available)
	if err != nil {
		return nil, err
	}
	return pl.UpgradePath, nil
}

// writeListing prints what a run would do, phase by phase, as a list (the
// one list style, internal/table): each lifecycle step and check with its
// labels and, where one does not apply, why. It is a listing, never a
// result; notes (that it is a dry run, hops that could not be planned) go
// to note.
func writeListing(w, note io.Writer, layouts []*layout) error {
	fmt.Fprintln(note, "DRY RUN: nothing was created and nothing ran; no report was written.")
	t := table.New(w, "run", "phase", "kind", "spec")
	for _, l := range layouts {
		if l.hopErr != nil {
			fmt.Fprintf(note, "%s (run %s): upgrade hops could not be planned: %v\n", runTitle(l.run), l.run.Name, l.hopErr)
		}
		for _, p := range l.phases {
			for _, s := range l.specs[p.Name] {
				kind := "check"
				if s.step {
					kind = "step"
				}
				t.Row(l.run.Name, phaseTitle(p), kind, s.title)
				t.Continue("labels: " + strings.Join(s.labels, ", "))
				if !s.step && s.entry.Skip != "" {
					t.Continue("skips: " + s.entry.Skip)
				}
				if !s.step {
					if caps := s.entry.Check.Capabilities(); len(caps) > 0 {
						t.Continue(fmt.Sprintf("needs: %v", caps))
					}
				}
			}
		}
	}
	return t.Flush()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// specTimeout bounds one spec's context.
func specTimeout() ginkgo.SpecTimeout { return ginkgo.SpecTimeout(20 * time.Minute) }

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
