package suites

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/framework/timeline"
)

// baselineWindow is how long the meter runs the hop's pairs with nothing
// changing before each hop: at 50 probes/s, 1,000 probes per pair, enough
// to see a noisy environment's loss at the 0.1 % level.
const baselineWindow = 20 * time.Second

// nodeProbePorts are the ports of the host-network echo that gives each
// hybrid node a probe place (chosen clear of the kubelet's and the CNIs').
const (
	nodeProbeHTTPPort = 18080
	nodeProbeUDPPort  = 19000
)

// active is the recorder of the hop being measured, for the driver's step
// events (observeDriver, recordDriverStep); nil between hops.
var active struct {
	mu  sync.Mutex
	rec *timeline.Recorder
}

func activeRecorder() *timeline.Recorder {
	active.mu.Lock()
	defer active.mu.Unlock()
	return active.rec
}

// observeDriver puts the driver's step boundaries (pre-flight ready and
// removed, CRDs applied, upgraded) on the current hop's timeline. Wire it
// as cni.Options.Observe.
func (w *world) observeDriver(e cni.Event) {
	if rec := activeRecorder(); rec != nil {
		text := e.Step
		if e.From != "" || e.To != "" {
			text = fmt.Sprintf("%s (%s -> %s)", e.Step, e.From, e.To)
		}
		rec.Instant(report.EventStep, "", e.Step, "driver: "+text)
	}
}

// recordDriverStep puts a driver step's span (pre-flight, helm upgrade) on
// the current hop's timeline, from its timings. Wire it as cni.Options.Record.
func (w *world) recordDriverStep(step string, t cni.Timings) {
	if rec := activeRecorder(); rec != nil {
		end := time.Now()
		rec.Add(report.Event{Kind: report.EventStep, Start: end.Add(-t.Total), End: end, Subject: step,
			Text: fmt.Sprintf("driver: %s (%s, waiting %s, in Helm %s)", step, t.Total.Round(time.Millisecond),
				t.Waiting.Round(time.Millisecond), t.Helm.Round(time.Millisecond))})
	}
}

// meterPairs are the pairs that matter in a hybrid cluster: pod -> pod in
// both directions on every pair of hybrid nodes, pod -> service from every
// node, pod -> on-prem host (when pods reach it), on-prem host -> pod over
// the BGP path (when the router learns pod routes), and node -> pod (a
// host-network probe place on each node), all UDP to the echo pods.
func (w *world) meterPairs(ctx context.Context) []probe.MeterPair {
	wl := w.dataplane(ctx)
	var pairs []probe.MeterPair
	udp := func(p echoPod) probe.Target { return probe.UDPTarget(p.Name, p.IP, echoUDPPort) }
	for _, from := range wl.order {
		for _, to := range wl.order {
			if from != to || len(wl.order) == 1 {
				pairs = append(pairs, probe.MeterPair{From: w.source(wl.pods[from][0]), To: udp(wl.pods[to][1])})
			}
		}
	}
	for _, n := range wl.order {
		pairs = append(pairs, probe.MeterPair{From: w.source(wl.pods[n][1]), To: probe.UDPTarget("service/"+echoService, wl.serviceIP, echoUDPPort)})
	}
	if w.env.Has(OnPremHost) && !w.podsUnreachableOnPrem() {
		for _, n := range wl.order {
			pairs = append(pairs, probe.MeterPair{From: w.source(wl.pods[n][0]),
				To: probe.UDPTarget(w.env.OnPrem.Name, w.env.OnPrem.IP, w.env.OnPremUDPPort).Outside()})
		}
	}
	// An on-prem host the harness cannot run probes on (the existing
	// provider's --on-prem-host) is a target only.
	if w.env.Has(OnPremHost) && w.env.OnPrem.Place != nil && w.run.BGP.Enabled && w.env.Has(Router) {
		for _, n := range wl.order {
			pairs = append(pairs, probe.MeterPair{From: *w.env.OnPrem, To: udp(wl.pods[n][1])})
		}
	}
	nodes, err := w.nodeProbes(ctx, wl)
	if err != nil {
		AddReportEntry("disruption-node-to-pod", "node -> pod pairs left out: "+err.Error())
	}
	for i, n := range wl.order {
		src, ok := nodes[n]
		if !ok {
			continue
		}
		to := wl.order[(i+1)%len(wl.order)]
		pairs = append(pairs, probe.MeterPair{From: src, To: udp(wl.pods[to][1])})
	}
	return pairs
}

// nodeProbeCache keeps each world's node probe places (created once).
var nodeProbeCache sync.Map // *world -> map[string]probe.Source

// nodeProbes runs one host-network echo pod per hybrid node (the harness's
// echo image, on ports clear of the echo workload) and returns them as
// probe places named after their node: a probe from there leaves from the
// node's own network stack, as node -> pod traffic does.
func (w *world) nodeProbes(ctx context.Context, wl *workload) (map[string]probe.Source, error) {
	if v, ok := nodeProbeCache.Load(w); ok {
		return v.(map[string]probe.Source), nil
	}
	kube := w.env.Kube
	for _, n := range wl.order {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "node-probe-" + n, Namespace: workloadNamespace,
				Labels: map[string]string{labelApp: "hybridcni-node-probe", labelNode: n}},
			Spec: corev1.PodSpec{
				NodeSelector:                  map[string]string{"kubernetes.io/hostname": n},
				HostNetwork:                   true,
				TerminationGracePeriodSeconds: new(int64),
				Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
				Containers: []corev1.Container{{
					Name:            "echo",
					Image:           w.env.EchoImage,
					Args:            []string{fmt.Sprintf("--http-port=%d", nodeProbeHTTPPort), fmt.Sprintf("--udp-port=%d", nodeProbeUDPPort)},
					ImagePullPolicy: corev1.PullIfNotPresent,
					SecurityContext: w.probeSecurity(),
				}},
			},
		}
		if _, err := kube.CoreV1().Pods(workloadNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create the host-network probe pod on %s: %w", n, err)
		}
	}
	nodeIP := map[string]string{}
	for _, n := range w.env.Nodes {
		nodeIP[n.Name] = n.Address
	}
	out := map[string]probe.Source{}
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, n := range wl.order {
			p, err := kube.CoreV1().Pods(workloadNamespace).Get(ctx, "node-probe-"+n, metav1.GetOptions{})
			if err != nil || p.Status.Phase != corev1.PodRunning {
				last = fmt.Sprintf("node-probe-%s not running (%v)", n, err)
				return false, nil
			}
			out[n] = probe.Source{Place: probe.InPod(w.env.REST, workloadNamespace, p.Name, "echo"), Name: "node/" + n, IP: nodeIP[n]}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("host-network probe pods not running within 2 minutes (%s): %w", last, err)
	}
	nodeProbeCache.Store(w, out)
	return out, nil
}

// hopRecorders starts the event recorders of a hop: pods in the CNI's
// namespaces and the probe workload's, the router's sessions and routes
// (when there is a router), the host's CPU. Recorders that cannot start
// are named in the returned error; the others run until ctx ends.
func (w *world) hopRecorders(ctx context.Context, rec *timeline.Recorder) (*timeline.LoadSampler, error) {
	var errs []error
	ns := []string{workloadNamespace}
	if p, err := cni.Lookup(w.run.CNI.Name); err == nil {
		ns = append(cni.Namespaces(p), workloadNamespace)
	}
	if err := timeline.NewPodWatcher(w.env.Kube, rec, ns...).Start(ctx); err != nil {
		errs = append(errs, err)
	}
	if w.env.Router != nil {
		names := map[string]string{}
		for _, n := range w.env.Nodes {
			names[n.Address] = n.Name
		}
		if err := timeline.NewRouterWatcher(w.env.Router, rec, names).Start(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	load := timeline.NewLoadSampler(rec, time.Second)
	if err := load.Start(ctx); err != nil {
		errs = append(errs, err)
		load = nil
	}
	return load, errors.Join(errs...)
}

// measureHop measures one hop: a baseline window on the meter's pairs with
// nothing changing, then the meter and the event recorders while upgrade
// runs. It writes the hop's timeline (JSON) into the results folder, adds
// report entries (summary with baseline, every gap with its causes, the
// timeline's path, the host's CPU) and judges the run's budget on the hop,
// its baseline shown. An error of upgrade is returned wrapped and takes
// precedence over the meter's and the budget's. Without a dataplane it
// only calls upgrade.
func (w *world) measureHop(ctx context.Context, hop string, upgrade func(context.Context) error) (summary report.Disruption, err error) {
	m := w.measure(ctx, hop, upgrade)
	if m.timeline != nil {
		// The matrix's figures (a JUnit property): one hop per spec.
		AddReportEntry(report.DisruptionEntry, m.summary)
	}
	switch {
	case m.upgradeErr != nil:
		return m.summary, m.upgradeErr
	case m.meterErr != nil:
		return m.summary, m.meterErr
	case m.timeline == nil:
		return m.summary, nil
	}
	return m.summary, state.opts.Disruption.CheckHop(m.timeline)
}

// measured is one measured hop.
type measured struct {
	summary  report.Disruption
	timeline *report.Timeline // nil without a dataplane
	// upgradeErr is the operation's error (wrapped); meterErr the meter's
	// or the timeline file's.
	upgradeErr, meterErr error
}

// measure is measureHop without the budget.
func (w *world) measure(ctx context.Context, hop string, upgrade func(context.Context) error) measured {
	summary := report.Disruption{Hop: hop}
	if !w.env.Has(Dataplane) {
		if err := upgrade(ctx); err != nil {
			return measured{summary: summary, upgradeErr: fmt.Errorf("%s: %w", hop, err)}
		}
		return measured{summary: summary}
	}
	pairs := w.meterPairs(ctx)
	var merrs []error

	// The baseline: same pairs, nothing changing.
	var base *probe.DisruptionReport
	if m, err := probe.StartMeter(ctx, pairs); err != nil {
		merrs = append(merrs, fmt.Errorf("baseline: %w", err))
	} else {
		select {
		case <-time.After(baselineWindow):
		case <-ctx.Done():
		}
		if base, err = m.Stop(); err != nil {
			merrs = append(merrs, fmt.Errorf("baseline: %w", err))
		}
	}

	rec := timeline.NewRecorder()
	rctx, stopRecorders := context.WithCancel(ctx)
	defer stopRecorders()
	load, err := w.hopRecorders(rctx, rec)
	if err != nil {
		AddReportEntry("disruption-events", fmt.Sprintf("some hop events are not recorded: %v", err))
	}
	meter, err := probe.StartMeter(ctx, pairs)
	if err != nil {
		merrs = append(merrs, fmt.Errorf("hop: %w", err))
	}
	active.mu.Lock()
	active.rec = rec
	active.mu.Unlock()
	endHop := rec.Begin(report.EventHop, "", hop, "upgrade call: "+hop)
	uerr := upgrade(ctx)
	endHop()
	active.mu.Lock()
	active.rec = nil
	active.mu.Unlock()
	var during *probe.DisruptionReport
	if meter != nil {
		if during, err = meter.Stop(); err != nil {
			merrs = append(merrs, fmt.Errorf("hop: %w", err))
		}
	}
	stopRecorders()
	var samples []report.LoadSample
	if load != nil {
		load.Wait()
		samples = load.Samples()
	}

	tl := probe.BuildTimeline(hop, base, during, rec.Events())
	tl.Load = samples
	summary = tl.Summary()
	rel := filepath.Join("disruption", slug(w.run.Name+"-"+hop)+".json")
	if err := report.WriteTimeline(filepath.Join(w.resultsDir(), rel), tl); err != nil {
		merrs = append(merrs, fmt.Errorf("write the timeline: %w", err))
	} else {
		summary.Timelines = []string{rel}
	}
	text := hopText(tl, base, during) + "\n" + timeline.Summary(samples)
	w.tables = append(w.tables, "disruption during "+hop+":\n"+text)
	AddReportEntry("disruption "+hop, text)
	AddReportEntry("disruption-timeline "+hop, filepath.Join(w.resultsDir(), rel))

	m := measured{summary: summary, timeline: tl}
	if uerr != nil {
		m.upgradeErr = fmt.Errorf("%s: %w", hop, uerr)
	}
	if len(merrs) > 0 {
		m.meterErr = fmt.Errorf("disruption meter during %s: %w", hop, errors.Join(merrs...))
	}
	return m
}

// hopText is the hop's report entry: the pairs' tables (baseline and hop)
// and every gap with its causes.
func hopText(tl *report.Timeline, base, during *probe.DisruptionReport) string {
	var b strings.Builder
	s := tl.Summary()
	fmt.Fprintf(&b, "%s: %s\n", tl.Hop, s)
	if base != nil {
		fmt.Fprintf(&b, "\nbaseline (%s, nothing changing):\n%s", baselineWindow, base.Table())
	}
	if during != nil {
		fmt.Fprintf(&b, "\nduring the hop:\n%s", during.Table())
	}
	gaps := tl.Gaps()
	if len(gaps) > 0 {
		b.WriteString("\ngaps:\n- " + strings.Join(gaps, "\n- ") + "\n")
	}
	return b.String()
}

// RepeatResult is what repeated hops showed: the distribution of the
// upgrades and of the rollbacks, and every measured hop.
type RepeatResult struct {
	Upgrades, Rollbacks report.Distribution
	Hops                []report.Disruption
}

// repeatHops upgrades and rolls back n times on one cluster, each step
// measured as measureHop measures (baseline, timeline), but judged on the
// distribution: each pair's median or worst (cni.repeatBudgetOn) loss and
// gap against the run's budget, over the upgrades and over the rollbacks.
// The first error of upgrade or rollback stops the loop and is returned
// wrapped, taking precedence; the distributions so far are returned too.
func (w *world) repeatHops(ctx context.Context, n int, upgrade, rollback func(context.Context) error) (RepeatResult, error) {
	var res RepeatResult
	var ups, downs []report.Disruption
	var merrs []error
	for i := 1; i <= n; i++ {
		for _, step := range []struct {
			name string
			fn   func(context.Context) error
			into *[]report.Disruption
		}{
			{fmt.Sprintf("upgrade %d of %d", i, n), upgrade, &ups},
			{fmt.Sprintf("rollback %d of %d", i, n), rollback, &downs},
		} {
			m := w.measure(ctx, step.name, step.fn)
			res.Hops = append(res.Hops, m.summary)
			*step.into = append(*step.into, m.summary)
			if m.upgradeErr != nil {
				res.Upgrades, res.Rollbacks = report.Distribute(ups), report.Distribute(downs)
				return res, m.upgradeErr
			}
			if m.meterErr != nil {
				merrs = append(merrs, m.meterErr)
			}
		}
	}
	res.Upgrades, res.Rollbacks = report.Distribute(ups), report.Distribute(downs)
	if len(res.Hops) > 0 {
		AddReportEntry(report.DisruptionEntry, repeatSummary(res))
	}
	on := probe.BudgetOn(w.run.CNI.RepeatBudgetOn)
	if on == "" {
		on = probe.OnMedian
	}
	AddReportEntry("disruption-repeats", fmt.Sprintf("upgrades:\n%s\nrollbacks:\n%s", res.Upgrades.Table(), res.Rollbacks.Table()))
	if len(merrs) > 0 {
		return res, errors.Join(merrs...)
	}
	var errs []error
	if err := state.opts.Disruption.CheckDistribution(res.Upgrades, on); err != nil {
		errs = append(errs, fmt.Errorf("repeated upgrades: %w", err))
	}
	if err := state.opts.Disruption.CheckDistribution(res.Rollbacks, on); err != nil {
		errs = append(errs, fmt.Errorf("repeated rollbacks: %w", err))
	}
	return res, errors.Join(errs...)
}

// repeatSummary is the one disruption entry of repeated hops: the figures
// of the hop with the longest gap, the upgrades' distribution and every
// hop's timeline.
func repeatSummary(res RepeatResult) report.Disruption {
	var worst report.Disruption
	var timelines []string
	for i, h := range res.Hops {
		if i == 0 || h.LongestGapMs > worst.LongestGapMs {
			worst = h
		}
		timelines = append(timelines, h.Timelines...)
	}
	worst.Timelines = timelines
	up := res.Upgrades
	worst.Repeats = &up
	return worst
}

// startMeter starts the meter on the hop's pairs, or returns nil where the
// environment has no dataplane. measureHop supersedes it (kept for callers
// that stop the meter themselves).
func (w *world) startMeter(ctx context.Context) *probe.Meter {
	if !w.env.Has(Dataplane) {
		return nil
	}
	m, err := probe.StartMeter(ctx, w.meterPairs(ctx))
	if err != nil {
		Fail(fmt.Sprintf("start the disruption meter: %v", err))
	}
	return m
}
