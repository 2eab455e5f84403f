package cni

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/klient"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/config"
)

// Cluster is the Kubernetes cluster a lifecycle driver works on.
type Cluster struct {
	Helm      *chart.Cluster
	Client    klient.Client
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface
	Discovery discovery.DiscoveryInterface
}

// NewCluster builds the clients for rc. It does not contact the server.
func NewCluster(rc *rest.Config) (*Cluster, error) {
	rc = rest.CopyConfig(rc)
	rc.WarningHandler = rest.NoWarnings{}
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 50, 100
	}
	kc, err := klient.New(rc)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return &Cluster{Helm: chart.NewCluster(rc), Client: kc, Kube: kube, Dynamic: dyn, Discovery: kube.Discovery()}, nil
}

// Reachable checks that the API server answers, with a message naming the
// server when it does not.
func (c *Cluster) Reachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err := c.Kube.Discovery().RESTClient().Get().AbsPath("/version").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("API server %s is unreachable: %w (check --kubeconfig and that the cluster is up)", c.Helm.REST().Host, err)
	}
	return nil
}

// Options tune a driver.
type Options struct {
	// Source is where charts come from (required for install and upgrade).
	Source *chart.Source
	// Timeout bounds each wait (readiness, pre-flight, deletion). Default 5 minutes.
	Timeout time.Duration
	// Log receives one line per step (nil: quiet).
	Log io.Writer
	// PreflightValues are merged into the Cilium pre-flight release's values
	// (e.g. an image override for a private registry).
	PreflightValues map[string]any
	// RemoveFinalizers lets cleanup strip finalizers that still hold objects
	// after the bounded wait (their controller is gone).
	RemoveFinalizers bool
	// FinalizerGrace is how long cleanup waits before stripping finalizers
	// (0: Timeout).
	FinalizerGrace time.Duration
	// Observe is called at each step boundary (tests use it to look at the
	// cluster mid-upgrade).
	Observe func(Event)
	// Record receives the timings of each step (install, preflight, upgrade, ...).
	Record func(step string, t Timings)
}

// Emit calls Observe, if set.
func (o Options) Emit(e Event) {
	if o.Observe != nil {
		o.Observe(e)
	}
}

// Recorded calls Record, if set.
func (o Options) Recorded(step string, t Timings) {
	if o.Record != nil {
		o.Record(step, t)
	}
}

// WaitTimeout is the bound of each wait.
func (o Options) WaitTimeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 5 * time.Minute
}

// Event marks a step boundary.
type Event struct {
	Step string // e.g. "preflight-ready", "upgraded"
	From string
	To   string
}

// Events drivers emit.
const (
	EventPreflightReady   = "preflight-ready"
	EventPreflightRemoved = "preflight-removed"
	EventCRDsApplied      = "crds-applied"
	EventUpgraded         = "upgraded"
)

// Hop is one upgrade step from one chart version to the next.
type Hop struct {
	From, To string
	// Revision is the release revision the hop made.
	Revision int
	// Preflight is the pre-flight release that ran before the hop (Cilium).
	Preflight *PreflightResult `json:",omitempty"`
	// CRDs are the CRDs applied server-side before the hop (Calico).
	CRDs    []string `json:",omitempty"`
	Timings Timings
}

// PreflightResult is what the Cilium pre-flight showed.
type PreflightResult struct {
	Release         string
	Revision        int
	DaemonSetReady  int32
	AgentReady      int32
	DeploymentReady string // e.g. 1/1
	Removed         bool
}

// Driver runs the lifecycle of one CNI as the hybrid-nodes guide describes it.
type Driver interface {
	Profile() Profile
	// Install installs the CNI's release for run and waits until it is ready.
	Install(ctx context.Context, run config.Run) (*chart.Release, error)
	// Upgrade moves the release to version to, hop by hop, and waits until ready.
	Upgrade(ctx context.Context, run config.Run, to string) ([]Hop, error)
	// Rollback rolls the release back to revision (0: the previous one) and waits until ready.
	Rollback(ctx context.Context, run config.Run, revision int) (*chart.Release, error)
	// Uninstall removes the release.
	Uninstall(ctx context.Context) error
	// Cleanup removes what the release leaves behind (CRDs, operator namespaces).
	Cleanup(ctx context.Context) (*CleanupReport, error)
	// ApplyBGP applies the profile's BGP resources in the API version the
	// cluster serves and returns them as applied.
	ApplyBGP(ctx context.Context, run config.Run) ([]*unstructured.Unstructured, error)
	// BGPResources reads back the BGP resources present in the cluster.
	BGPResources(ctx context.Context) ([]*unstructured.Unstructured, error)
	// Readiness is a snapshot of the CNI's readiness; WaitReady waits for it.
	Readiness(ctx context.Context) (*Readiness, error)
	WaitReady(ctx context.Context) (*Readiness, error)
}

// DriverFactory builds a driver for a cluster.
type DriverFactory func(c *Cluster, o Options) Driver

var (
	driverMu sync.RWMutex
	drivers  = map[string]DriverFactory{}
)

// RegisterDriver makes a driver available to NewDriver; drivers call it from init.
func RegisterDriver(name string, f DriverFactory) {
	driverMu.Lock()
	defer driverMu.Unlock()
	drivers[name] = f
}

// NewDriver returns the driver for a CNI name, or a *config.Error on cni.name.
func NewDriver(name string, c *Cluster, o Options) (Driver, error) {
	driverMu.RLock()
	defer driverMu.RUnlock()
	if f, ok := drivers[name]; ok {
		return f(c, o), nil
	}
	var names []string
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, config.Invalid("cni.name", fmt.Sprintf("no lifecycle driver for CNI %q", name), "use one of: "+strings.Join(names, ", "))
}

// Timings split a step's wall time into waiting for the cluster and the
// harness's own work (rendering, API calls, bookkeeping).
type Timings struct {
	Total time.Duration
	// Waiting is time spent waiting for the cluster (readiness, pre-flight, deletion).
	Waiting time.Duration
	// Helm is time inside Helm SDK actions (rendering and API calls, Helm's own CRD waits).
	Helm time.Duration
}

// Harness is the harness's own work: neither waiting nor inside Helm.
func (t Timings) Harness() time.Duration { return t.Total - t.Waiting - t.Helm }

// Add sums two timings.
func (t Timings) Add(o Timings) Timings {
	return Timings{Total: t.Total + o.Total, Waiting: t.Waiting + o.Waiting, Helm: t.Helm + o.Helm}
}

// Stopwatch measures one step; Wait runs fn counting its time as waiting.
type Stopwatch struct {
	start   time.Time
	waiting time.Duration
	helm    time.Duration
}

// Helm runs fn counting its duration as a Helm SDK action.
func (s *Stopwatch) Helm(fn func() error) error {
	t := time.Now()
	err := fn()
	s.helm += time.Since(t)
	return err
}

// StartStopwatch starts measuring.
func StartStopwatch() *Stopwatch { return &Stopwatch{start: time.Now()} }

// Wait runs fn and counts its duration as waiting for the cluster.
func (s *Stopwatch) Wait(fn func() error) error {
	t := time.Now()
	err := fn()
	s.waiting += time.Since(t)
	return err
}

// Timings returns the measurement so far.
func (s *Stopwatch) Timings() Timings {
	return Timings{Total: time.Since(s.start), Waiting: s.waiting, Helm: s.helm}
}

// HelmStep runs a Helm action on sw's Helm clock (and on also's, if given).
func HelmStep(sw *Stopwatch, fn func() (*chart.Release, error), also ...*Stopwatch) (*chart.Release, error) {
	var rel *chart.Release
	run := func() error {
		var err error
		rel, err = fn()
		return err
	}
	for _, a := range also {
		inner := run
		run = func() error { return a.Helm(inner) }
	}
	err := sw.Helm(run)
	return rel, err
}

// Logf writes one progress line to w, if set.
func Logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
