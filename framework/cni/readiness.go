package cni

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/e2e-framework/klient/wait"

	"github.com/hybridcni/hybridcni/framework/progress"
)

// Workload kinds readiness knows.
const (
	KindDaemonSet  = "DaemonSet"
	KindDeployment = "Deployment"
)

// Workload is one object a CNI needs running.
type Workload struct {
	Kind      string
	Namespace string
	Name      string
	// Agent: a Ready pod on every hybrid node and none on other nodes (DaemonSets).
	Agent bool
	// HybridOnly: every pod must run on a hybrid node (Deployments).
	HybridOnly bool
}

func (w Workload) String() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// ReadinessSpec is what "ready" means for one CNI, per the guide.
type ReadinessSpec struct {
	Workloads []Workload
	// TigeraStatus names tigerastatus objects that must be Available and not Degraded.
	TigeraStatus []string
	// HybridNodes, when set, names the hybrid nodes the run configured: each
	// must be registered, carry the hybrid label, be Ready and run every
	// agent. Empty: the hybrid nodes the API lists (at least one).
	HybridNodes []string
	// Settle is how long everything must stay ready, with no container
	// restarting and no pod going away, before WaitReadiness accepts it; a
	// container that restarted within Settle is "restarting" in any check.
	// 0 means DefaultSettle; negative turns the settle window off.
	Settle time.Duration
	// CrashLoop is how many times one container may restart during
	// WaitReadiness before the wait ends at once, not ready: a crash loop
	// is not waited out to the timeout. 0 means DefaultCrashLoop; negative
	// waits out the timeout whatever restarts.
	CrashLoop int
	// Progress, when set, gets a line every few seconds of WaitReadiness
	// saying what is still awaited (the run's log).
	Progress io.Writer
	// Name is what the progress lines call the wait (default "CNI readiness").
	Name string
}

// DefaultSettle is the settle window of a ReadinessSpec that sets none: as
// long as the kubelet's first crash back-off (10 s), so an agent that
// crashes within 10 s of turning Ready is caught by its restart count, and
// any restart within the window by the kubelet's timestamps.
var DefaultSettle = 10 * time.Second

// DefaultCrashLoop: a container that restarts this many times while
// readiness is awaited is crash-looping (the kubelet's back-off puts the
// third restart about a minute after the first).
const DefaultCrashLoop = 3

func (s ReadinessSpec) crashLoop() int {
	if s.CrashLoop == 0 {
		return DefaultCrashLoop
	}
	return s.CrashLoop
}

// SettleWindow is the spec's settle window (Settle, else DefaultSettle;
// 0 when turned off).
func (s ReadinessSpec) SettleWindow() time.Duration {
	switch {
	case s.Settle < 0:
		return 0
	case s.Settle == 0:
		return DefaultSettle
	}
	return s.Settle
}

// Problem is one reason a CNI is not ready: which object, and why.
type Problem struct {
	Object string // e.g. "node hybrid-node-2", "pod kube-system/cilium-x7k2p"
	Reason string // missing, pending, unschedulable, crash-looping, image pull, not ready, ...
	Detail string
}

func (p Problem) String() string {
	s := p.Object + ": " + p.Reason
	if p.Detail != "" {
		s += " (" + p.Detail + ")"
	}
	return s
}

// Reasons a Problem gives.
const (
	ReasonMissing       = "missing"
	ReasonPending       = "pending"
	ReasonUnschedulable = "unschedulable"
	ReasonCrashLooping  = "crash-looping"
	ReasonImagePull     = "image pull"
	ReasonNotReady      = "not ready"
	ReasonRollingOut    = "rolling out"
	ReasonWrongNode     = "on a non-hybrid node"
	ReasonDegraded      = "degraded"
	ReasonRestarting    = "restarting"     // a container restarted within the settle window
	ReasonScaledToZero  = "scaled to zero" // a Deployment with spec.replicas 0
	ReasonNoPods        = "no pods desired"
	ReasonNotHybrid     = "not a hybrid node"
)

// NodeState is one node as readiness saw it.
type NodeState struct {
	Name   string
	Hybrid bool
	Ready  bool
	// Agents maps an agent workload to its pod on the node ("" if none).
	Agents map[string]string
}

// WorkloadState is one workload's counts.
type WorkloadState struct {
	Workload Workload
	Ready    string // e.g. 3/3
	OK       bool
}

// Readiness is a snapshot of a CNI's readiness.
type Readiness struct {
	Nodes     []NodeState
	Workloads []WorkloadState
	Tigera    map[string]string // tigerastatus name -> "Available" or the failing condition
	Problems  []Problem
	// Pods lists the pods of each workload by node (pod name -> node).
	Pods map[string]map[string]string
	// Unstable lists what broke the settle window during WaitReadiness
	// (restarts, pods that went away), oldest first, at most 20.
	Unstable []string `json:",omitempty"`
	// StableSince is when the settle window of this look began: everything
	// has been ready, with no restart and no pod replaced or gone, since
	// then (zero when not ready, and from CheckReadiness).
	StableSince time.Time `json:",omitzero"`
	// Inherited: the window began in an earlier wait on the same release
	// (Release.WaitReady), which ended ready and stable, and this wait's
	// first look matched that wait's last one.
	Inherited bool `json:",omitempty"`

	seen map[string]podSeen // "namespace/name" -> restart counts, for the settle window
}

// Stability says since when r has been ready and stable, and whether that
// window began in an earlier wait ("" when no window is open).
func (r *Readiness) Stability() string {
	if r == nil || r.StableSince.IsZero() {
		return ""
	}
	s := fmt.Sprintf("ready and stable since %s (%s)", r.StableSince.Format("15:04:05.000"), time.Since(r.StableSince).Round(100*time.Millisecond))
	if r.Inherited {
		s += ", the window began in an earlier wait"
	}
	return s
}

// podSeen is one pod's identity and container restart counts at a check.
type podSeen struct {
	uid      string
	node     string
	restarts map[string]int32
}

// OK reports whether nothing is wrong.
func (r *Readiness) OK() bool { return r != nil && len(r.Problems) == 0 }

// Err is nil when ready, else an error listing every problem.
func (r *Readiness) Err() error {
	if r.OK() {
		return nil
	}
	lines := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		lines[i] = "  - " + p.String()
	}
	return fmt.Errorf("not ready, %d problem(s):\n%s", len(r.Problems), strings.Join(lines, "\n"))
}

// Has reports whether a problem names object (exactly or as a prefix) with reason.
func (r *Readiness) Has(object, reason string) bool {
	for _, p := range r.Problems {
		if strings.HasPrefix(p.Object, object) && (reason == "" || p.Reason == reason) {
			return true
		}
	}
	return false
}

// ErrNotReady is wrapped by WaitReadiness when the deadline passes.
var ErrNotReady = errors.New("CNI not ready")

// WaitReadiness waits (polling the API, bounded by timeout and ctx) until
// CheckReadiness finds no problem and keeps finding none for the spec's
// settle window, with no container restart and no pod going away in
// between: ready means ready and stable, so a crash-looping agent caught
// between two crashes is not ready. On timeout the error lists the problems
// of the last check, or what broke the settle window.
func WaitReadiness(ctx context.Context, c *Cluster, spec ReadinessSpec, timeout time.Duration) (*Readiness, error) {
	return waitReadiness(ctx, c, spec, timeout, nil)
}

// waitReadiness is WaitReadiness continuing the settle window of earlier,
// the result of a wait that ended ready and stable (nil: none). The first
// look is compared with earlier's last one: if everything is ready and
// nothing broke in between (inheritBreaks: the same pods, same UIDs, same
// restart counts) the window goes on from earlier.StableSince, so a wait
// after a window that already lasted passes on its first look; any break
// starts it over. The caller must not pass an earlier wait from before
// anything changed the CNI (an upgrade, a rollback, manifests applied):
// its pods may not have been replaced yet when the first look comes.
func waitReadiness(ctx context.Context, c *Cluster, spec ReadinessSpec, timeout time.Duration, earlier *Readiness) (*Readiness, error) {
	var last *Readiness
	var lastErr error
	settle := spec.SettleWindow()
	var stableSince time.Time
	var prev map[string]podSeen
	// seeded: prev and stableSince are earlier's, until the first full look.
	seeded, inherited := false, false
	if earlier != nil && earlier.seen != nil && !earlier.StableSince.IsZero() {
		prev, stableSince = earlier.seen, earlier.StableSince
		seeded, inherited = true, true
	}
	var unstable []string
	restarts := map[string]int32{} // "namespace/pod container" -> restarts seen during the wait
	var crashLoop string
	var zeroObject string // a Deployment seen scaled to zero, since zeroSince
	var zeroSince time.Time
	start := time.Now()
	name := spec.Name
	if name == "" {
		name = "CNI readiness"
	}
	pw := progress.Start(spec.Progress, name, progress.Limit(timeout))
	defer pw.Done()
	cond := func(ctx context.Context) (bool, error) {
		r, err := CheckReadiness(ctx, c, spec)
		if ctx.Err() != nil {
			return false, nil // the deadline cut this check short: keep the last full one
		}
		if err != nil {
			lastErr = err // API trouble: keep polling until the deadline, then report it
			pw.Update("API: " + err.Error())
			return false, nil
		}
		pw.Update(awaited(r, stableSince, settle))
		now := time.Now()
		// Restarts between the two waits break the window (below) but do
		// not count toward this wait's crash loop: that counts what this
		// wait saw, as without an earlier wait.
		during := prev
		if seeded {
			during = nil
		}
		if loop := restartsDuring(during, r.seen, restarts, spec.crashLoop()); loop != "" {
			crashLoop = loop
			last, lastErr = r, nil
			return false, errCrashLoop
		}
		// A Deployment the CNI needs, scaled to zero for a whole settle
		// window, is a declared state: nothing in a rollout makes it so,
		// and waiting out the timeout changes nothing.
		if z := scaledToZero(r); z == "" || z != zeroObject {
			zeroObject, zeroSince = z, now
		} else if now.Sub(zeroSince) >= settle {
			last, lastErr = r, nil
			return false, errScaledToZero
		}
		changes := settleBreaks(prev, r.seen)
		if seeded {
			// The window inherited from the earlier wait spans a gap
			// between two looks (that wait's last, this one's first) that
			// nobody watched: it counts only because this first look shows
			// no break since then, nor a pod that was not there. Anything
			// else starts the window over, as without an earlier wait.
			changes = inheritBreaks(prev, r.seen)
			seeded = false
		}
		if len(changes) > 0 {
			unstable = append(unstable, changes...)
			if len(unstable) > 20 {
				unstable = unstable[len(unstable)-20:]
			}
			stableSince, inherited = time.Time{}, false
		}
		prev = r.seen
		r.Unstable = append([]string(nil), unstable...)
		last, lastErr = r, nil
		if !r.OK() {
			stableSince, inherited = time.Time{}, false
			return false, nil
		}
		if stableSince.IsZero() {
			stableSince = now
		}
		r.StableSince, r.Inherited = stableSince, inherited
		if inherited {
			pw.Update(r.Stability())
		}
		return now.Sub(stableSince) >= settle, nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := wait.For(cond, wait.WithContext(wctx), wait.WithInterval(250*time.Millisecond), wait.WithImmediate())
	if err == nil {
		return last, nil
	}
	// The caller's deadline (a bounded wait under a held fault) or an
	// interrupt may come first: say what was still not ready all the same.
	limit := timeout
	if ctx.Err() != nil {
		limit = time.Since(start).Round(time.Second)
	}
	why := func() error {
		if errors.Is(err, errScaledToZero) {
			return fmt.Errorf("%w after %s: %s: %s for the whole %s settle window (spec.replicas 0 is not waited out to the %s timeout): %w",
				ErrNotReady, time.Since(start).Round(time.Second), zeroObject, ReasonScaledToZero, settle, timeout, last.Err())
		}
		if crashLoop != "" {
			seen := ""
			if len(unstable) > 0 {
				seen = "\n  seen during the wait: " + strings.Join(unstable, "; ")
			}
			return fmt.Errorf("%w after %s: not stable: %s (a crash loop is not waited out to the %s timeout)%s",
				ErrNotReady, time.Since(start).Round(time.Second), crashLoop, timeout, seen)
		}
		// The last full look says what is wrong; an API error (often the
		// deadline cutting the final look short) only when there was none.
		switch {
		case last != nil && last.OK():
			why := fmt.Sprintf("ready for only %s of the %s settle window", time.Since(stableSince).Round(100*time.Millisecond), settle)
			if inherited {
				why += " (the window began in an earlier wait)"
			}
			if len(unstable) > 0 {
				why = "not stable: " + strings.Join(unstable, "; ") + "; then " + why
			}
			return fmt.Errorf("%w after %s: %s", ErrNotReady, limit, why)
		case last != nil && len(unstable) > 0:
			return fmt.Errorf("%w after %s: %w\n  seen during the wait: %s", ErrNotReady, limit, last.Err(), strings.Join(unstable, "; "))
		case last != nil:
			return fmt.Errorf("%w after %s: %w", ErrNotReady, limit, last.Err())
		case lastErr != nil:
			return fmt.Errorf("%w after %s: %v", ErrNotReady, limit, lastErr)
		}
		return fmt.Errorf("%w after %s: %v", ErrNotReady, limit, err)
	}()
	if ctx.Err() != nil {
		why = fmt.Errorf("%w: %w", ctx.Err(), why)
	}
	return last, why
}

// awaited says what a readiness wait still waits for: the first problems
// (object and node), or the settle window's progress.
func awaited(r *Readiness, stableSince time.Time, settle time.Duration) string {
	if r.OK() {
		if stableSince.IsZero() {
			return "ready; the settle window starts"
		}
		return fmt.Sprintf("ready, settling: %s of %s", time.Since(stableSince).Round(time.Second), settle)
	}
	var parts []string
	for i, pr := range r.Problems {
		if i == 2 {
			parts = append(parts, fmt.Sprintf("and %d more", len(r.Problems)-2))
			break
		}
		parts = append(parts, pr.String())
	}
	return strings.Join(parts, "; ")
}

// settleBreaks lists what, between two checks, breaks a settle window: a
// container whose restart count rose, a pod replaced under the same name,
// or a pod gone.
func settleBreaks(prev, cur map[string]podSeen) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(prev)) {
		p := prev[k]
		c, ok := cur[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("pod %s on node %s went away", k, p.node))
		case c.uid != p.uid:
			out = append(out, fmt.Sprintf("pod %s on node %s was replaced", k, p.node))
		default:
			for _, n := range slices.Sorted(maps.Keys(c.restarts)) {
				if c.restarts[n] > p.restarts[n] {
					out = append(out, fmt.Sprintf("pod %s on node %s: container %s restarted (restart count %d -> %d)", k, c.node, n, p.restarts[n], c.restarts[n]))
				}
			}
		}
	}
	return out
}

// inheritBreaks is settleBreaks between an earlier wait's last look and a
// new wait's first, stricter: a pod there now that was not then (a new
// node's agent, a Deployment scaled up) has not been watched for any of the
// window, so it breaks the window too.
func inheritBreaks(earlier, cur map[string]podSeen) []string {
	out := settleBreaks(earlier, cur)
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if _, ok := earlier[k]; !ok {
			out = append(out, fmt.Sprintf("pod %s on node %s appeared", k, cur[k].node))
		}
	}
	for i := range out {
		out[i] += " (since the earlier wait)"
	}
	return out
}

var (
	errCrashLoop    = errors.New("crash loop")
	errScaledToZero = errors.New("scaled to zero")
)

// scaledToZero names the first object r finds scaled to zero ("" if none).
func scaledToZero(r *Readiness) string {
	for _, p := range r.Problems {
		if p.Reason == ReasonScaledToZero {
			return p.Object
		}
	}
	return ""
}

// restartsDuring adds the restarts between two looks to counts (the same
// pod only: a replaced pod starts from its own count) and names the first
// container that has restarted limit times during the wait, if any
// (limit < 0: none).
func restartsDuring(prev, cur map[string]podSeen, counts map[string]int32, limit int) string {
	if prev == nil || limit < 0 {
		return ""
	}
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		c := cur[k]
		p, ok := prev[k]
		if !ok || p.uid != c.uid {
			continue
		}
		for _, n := range slices.Sorted(maps.Keys(c.restarts)) {
			if d := c.restarts[n] - p.restarts[n]; d > 0 {
				counts[k+" "+n] += d
			}
			if got := counts[k+" "+n]; got >= int32(limit) {
				return fmt.Sprintf("pod %s on node %s: container %s restarted %d times during the wait (restart count %d)", k, c.node, n, got, c.restarts[n])
			}
		}
	}
	return ""
}

// recentRestart names a container of p that restarted within window of
// now (by its last termination or its current start), if any.
func recentRestart(p *corev1.Pod, window time.Duration, now time.Time) (string, bool) {
	if window <= 0 {
		return "", false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.RestartCount == 0 {
			continue
		}
		var at time.Time
		if t := cs.LastTerminationState.Terminated; t != nil && !t.FinishedAt.IsZero() {
			at = t.FinishedAt.Time
		}
		if r := cs.State.Running; r != nil && r.StartedAt.After(at) {
			at = r.StartedAt.Time
		}
		if at.IsZero() || now.Sub(at) >= window {
			continue
		}
		d := fmt.Sprintf("container %s restarted %s ago, within the %s settle window (restart count %d", cs.Name, now.Sub(at).Round(100*time.Millisecond), window, cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil {
			d += fmt.Sprintf(", last exit code %d", t.ExitCode)
			if t.Reason != "" {
				d += " " + t.Reason
			}
			if m := lastLine(t.Message); m != "" {
				d += ": " + m
			}
		}
		return d + ")", true
	}
	return "", false
}

// notePod records a pod's restart counts for the settle window and, for a
// pod otherwise fine, reports a recent restart as a problem.
func notePod(r *Readiness, spec ReadinessSpec, p *corev1.Pod, object string) {
	seen := podSeen{uid: string(p.UID), node: p.Spec.NodeName, restarts: map[string]int32{}}
	for _, cs := range p.Status.ContainerStatuses {
		seen.restarts[cs.Name] = cs.RestartCount
	}
	r.seen[p.Namespace+"/"+p.Name] = seen
	if d, ok := recentRestart(p, spec.SettleWindow(), time.Now()); ok {
		r.Problems = append(r.Problems, Problem{Object: object, Reason: ReasonRestarting, Detail: d})
	}
}

// CheckReadiness looks once at nodes, workloads, their pods and
// tigerastatus. The error is for API failures only; what is not ready is in
// Readiness.Problems.
func CheckReadiness(ctx context.Context, c *Cluster, spec ReadinessSpec) (*Readiness, error) {
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	r := &Readiness{Pods: map[string]map[string]string{}, Tigera: map[string]string{}, seen: map[string]podSeen{}}
	hybrid := map[string]bool{}
	var hybridNames []string
	listed := map[string]bool{}
	for _, n := range nodes.Items {
		listed[n.Name] = true
		h := n.Labels[HybridLabel] == HybridValue
		hybrid[n.Name] = h
		st := NodeState{Name: n.Name, Hybrid: h, Ready: nodeReady(&n), Agents: map[string]string{}}
		r.Nodes = append(r.Nodes, st)
		if h {
			hybridNames = append(hybridNames, n.Name)
			if !st.Ready {
				r.Problems = append(r.Problems, Problem{Object: "node " + n.Name, Reason: ReasonNotReady, Detail: nodeReadyMessage(&n)})
			}
		}
	}
	if len(hybridNames) == 0 {
		r.Problems = append(r.Problems, Problem{Object: "nodes", Reason: ReasonMissing,
			Detail: fmt.Sprintf("no node carries %s=%s", HybridLabel, HybridValue)})
	}
	for _, name := range spec.HybridNodes {
		switch {
		case !listed[name]:
			r.Problems = append(r.Problems, Problem{Object: "node " + name, Reason: ReasonMissing,
				Detail: fmt.Sprintf("a configured hybrid node is not registered (%d hybrid nodes listed: %s)", len(hybridNames), strings.Join(hybridNames, ", "))})
		case !hybrid[name]:
			r.Problems = append(r.Problems, Problem{Object: "node " + name, Reason: ReasonNotHybrid,
				Detail: fmt.Sprintf("a configured hybrid node lacks the label %s=%s", HybridLabel, HybridValue)})
		}
	}
	for _, w := range spec.Workloads {
		var err error
		switch w.Kind {
		case KindDaemonSet:
			err = checkDaemonSet(ctx, c, w, spec, hybrid, r)
		case KindDeployment:
			err = checkDeployment(ctx, c, w, spec, hybrid, r)
		default:
			err = fmt.Errorf("readiness: unknown workload kind %q", w.Kind)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, name := range spec.TigeraStatus {
		if err := checkTigeraStatus(ctx, c, name, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func checkDaemonSet(ctx context.Context, c *Cluster, w Workload, spec ReadinessSpec, hybrid map[string]bool, r *Readiness) error {
	ds, err := c.Kube.AppsV1().DaemonSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonMissing, Detail: "not found"})
		r.Workloads = append(r.Workloads, WorkloadState{Workload: w, Ready: "0/0"})
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", w, err)
	}
	st := ds.Status
	state := WorkloadState{Workload: w, Ready: fmt.Sprintf("%d/%d", st.NumberReady, st.DesiredNumberScheduled)}
	pods, err := ownedPods(ctx, c, w.Namespace, ds.Spec.Selector, ds.UID)
	if err != nil {
		return err
	}
	byNode := map[string]*corev1.Pod{}
	r.Pods[w.String()] = map[string]string{}
	for i := range pods {
		p := &pods[i]
		r.Pods[w.String()][p.Name] = p.Spec.NodeName
		node := p.Spec.NodeName
		if node == "" {
			node = targetNode(p)
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		if prev := byNode[node]; prev == nil || p.CreationTimestamp.After(prev.CreationTimestamp.Time) {
			byNode[node] = p
		}
	}
	before := len(r.Problems)
	if w.Agent {
		var names []string
		for n := range hybrid {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p := byNode[n]
			for i := range r.Nodes {
				if r.Nodes[i].Name == n && p != nil {
					r.Nodes[i].Agents[w.Name] = p.Name
				}
			}
			switch {
			case hybrid[n] && p == nil:
				why := fmt.Sprintf("no %s pod on this hybrid node; DaemonSet desires %d pods for %d hybrid nodes", w.Name, st.DesiredNumberScheduled, countTrue(hybrid))
				if int(st.DesiredNumberScheduled) < countTrue(hybrid) {
					why += ": its node selector, affinity or tolerations leave this node out"
				}
				r.Problems = append(r.Problems, Problem{Object: "node " + n, Reason: ReasonMissing, Detail: why})
			case hybrid[n]:
				if reason, detail, bad := PodProblem(p); bad {
					r.Problems = append(r.Problems, Problem{Object: "pod " + p.Namespace + "/" + p.Name + " on node " + n, Reason: reason, Detail: detail})
				}
				notePod(r, spec, p, "pod "+p.Namespace+"/"+p.Name+" on node "+n)
			case p != nil:
				r.Problems = append(r.Problems, Problem{Object: "node " + n, Reason: ReasonWrongNode,
					Detail: fmt.Sprintf("%s pod %s runs on a node without %s=%s; the CNI must stay off cloud nodes", w.Name, p.Name, HybridLabel, HybridValue)})
			}
		}
	} else {
		for _, p := range byNode {
			if reason, detail, bad := PodProblem(p); bad {
				r.Problems = append(r.Problems, Problem{Object: "pod " + p.Namespace + "/" + p.Name, Reason: reason, Detail: detail})
			}
			notePod(r, spec, p, "pod "+p.Namespace+"/"+p.Name)
		}
	}
	if len(r.Problems) == before {
		switch {
		case ds.Status.ObservedGeneration < ds.Generation:
			r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonRollingOut, Detail: "the controller has not seen the latest spec yet"})
		case st.DesiredNumberScheduled == 0:
			r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonNoPods,
				Detail: "desiredNumberScheduled is 0: its node selector, affinity or tolerations match no node, so nothing runs"})
		case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
			r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonRollingOut,
				Detail: fmt.Sprintf("%d of %d pods run the current template", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)})
		case st.NumberReady < st.DesiredNumberScheduled:
			r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonNotReady, Detail: "ready " + state.Ready})
		}
	}
	state.OK = len(r.Problems) == before
	r.Workloads = append(r.Workloads, state)
	return nil
}

func checkDeployment(ctx context.Context, c *Cluster, w Workload, spec ReadinessSpec, hybrid map[string]bool, r *Readiness) error {
	d, err := c.Kube.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonMissing, Detail: "not found"})
		r.Workloads = append(r.Workloads, WorkloadState{Workload: w, Ready: "0/0"})
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", w, err)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	state := WorkloadState{Workload: w, Ready: fmt.Sprintf("%d/%d", st.ReadyReplicas, want)}
	before := len(r.Problems)
	pods, err := c.Kube.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(d.Spec.Selector)})
	if err != nil {
		return fmt.Errorf("list pods of %s: %w", w, err)
	}
	r.Pods[w.String()] = map[string]string{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		r.Pods[w.String()][p.Name] = p.Spec.NodeName
		if reason, detail, bad := PodProblem(p); bad {
			r.Problems = append(r.Problems, Problem{Object: "pod " + p.Namespace + "/" + p.Name, Reason: reason, Detail: detail})
		} else if w.HybridOnly && p.Spec.NodeName != "" && !hybrid[p.Spec.NodeName] {
			r.Problems = append(r.Problems, Problem{Object: "pod " + p.Namespace + "/" + p.Name, Reason: ReasonWrongNode,
				Detail: fmt.Sprintf("scheduled on %s, which lacks %s=%s", p.Spec.NodeName, HybridLabel, HybridValue)})
		}
		notePod(r, spec, p, "pod "+p.Namespace+"/"+p.Name)
	}
	if want == 0 {
		r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonScaledToZero,
			Detail: "spec.replicas is 0: the CNI needs this workload running"})
	}
	if len(r.Problems) == before {
		switch {
		case st.ObservedGeneration < d.Generation:
			r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonRollingOut, Detail: "the controller has not seen the latest spec yet"})
		case st.UpdatedReplicas < want:
			r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonRollingOut, Detail: fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)})
		case st.AvailableReplicas < want:
			detail := "available " + fmt.Sprintf("%d/%d", st.AvailableReplicas, want)
			if len(pods.Items) == 0 {
				detail += ", no pods exist"
			}
			r.Problems = append(r.Problems, Problem{Object: w.String(), Reason: ReasonNotReady, Detail: detail})
		}
	}
	state.OK = len(r.Problems) == before
	r.Workloads = append(r.Workloads, state)
	return nil
}

// TigeraStatusGVR is the tigera-operator's status resource.
var TigeraStatusGVR = schema.GroupVersionResource{Group: "operator.tigera.io", Version: "v1", Resource: "tigerastatuses"}

func checkTigeraStatus(ctx context.Context, c *Cluster, name string, r *Readiness) error {
	obj := "tigerastatus " + name
	u, err := c.Dynamic.Resource(TigeraStatusGVR).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.Tigera[name] = "not found"
		r.Problems = append(r.Problems, Problem{Object: obj, Reason: ReasonMissing, Detail: "the tigera-operator has not reported this component"})
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", obj, err)
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	get := func(t string) (string, string) {
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == t {
				s, _ := m["status"].(string)
				msg, _ := m["message"].(string)
				if msg == "" {
					msg, _ = m["reason"].(string)
				}
				return s, msg
			}
		}
		return "", ""
	}
	if s, msg := get("Degraded"); s == "True" {
		r.Tigera[name] = "Degraded"
		r.Problems = append(r.Problems, Problem{Object: obj, Reason: ReasonDegraded, Detail: msg})
		return nil
	}
	if s, msg := get("Available"); s != "True" {
		r.Tigera[name] = "Available=" + s
		if ps, pmsg := get("Progressing"); ps == "True" {
			msg = "progressing: " + pmsg
		}
		r.Problems = append(r.Problems, Problem{Object: obj, Reason: ReasonNotReady, Detail: strings.TrimSpace("Available=" + s + " " + msg)})
		return nil
	}
	r.Tigera[name] = "Available"
	return nil
}

// PodProblem classifies a pod that is not Ready: unschedulable, pending,
// crash-looping, image pull, or plainly not ready. bad is false for a
// Running, Ready pod.
func PodProblem(p *corev1.Pod) (reason, detail string, bad bool) {
	if p.Status.Phase == corev1.PodRunning && PodReady(p) {
		return "", "", false
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "CrashLoopBackOff", "RunContainerError", "CreateContainerError":
				d := fmt.Sprintf("container %s: %s, %d restarts", cs.Name, w.Reason, cs.RestartCount)
				if t := cs.LastTerminationState.Terminated; t != nil {
					d += fmt.Sprintf(", last exit code %d", t.ExitCode)
					if t.Reason != "" {
						d += " (" + t.Reason + ")"
					}
					// The container's last words (terminationMessagePolicy
					// FallbackToLogsOnError puts the log tail here).
					if m := lastLine(t.Message); m != "" {
						d += ": " + m
					}
				} else if m := lastLine(w.Message); m != "" {
					d += ": " + m
				}
				return ReasonCrashLooping, d, true
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
				return ReasonImagePull, fmt.Sprintf("container %s image %s: %s %s", cs.Name, cs.Image, w.Reason, w.Message), true
			}
		}
	}
	if p.Status.Phase == corev1.PodPending {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return ReasonUnschedulable, strings.TrimSpace(c.Reason + ": " + c.Message), true
			}
		}
		if p.Spec.NodeName == "" {
			return ReasonPending, "not scheduled yet", true
		}
		return ReasonPending, "scheduled on " + p.Spec.NodeName + ", containers not started", true
	}
	if p.Status.Phase != corev1.PodRunning {
		return ReasonNotReady, "phase " + string(p.Status.Phase), true
	}
	var notReady []string
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready {
			notReady = append(notReady, cs.Name)
		}
	}
	return ReasonNotReady, "running, containers not ready: " + strings.Join(notReady, ", "), true
}

// PodReady reports whether a pod's Ready condition is true.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeReadyMessage(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return fmt.Sprintf("Ready=%s: %s", c.Status, c.Message)
		}
	}
	return "no Ready condition"
}

// ownedPods lists the pods selected by sel that uid owns.
func ownedPods(ctx context.Context, c *Cluster, ns string, sel *metav1.LabelSelector, uid any) ([]corev1.Pod, error) {
	list, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(sel)})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		for _, o := range p.OwnerReferences {
			if string(o.UID) == fmt.Sprint(uid) {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}

// targetNode is the node a DaemonSet pod is pinned to by its node affinity.
func targetNode(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// DaemonSetReady returns a DaemonSet's ready and desired counts.
func DaemonSetReady(ctx context.Context, c *Cluster, ns, name string) (*appsv1.DaemonSet, error) {
	return c.Kube.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
}

// lastLine is the last non-empty line of s, cut to 240 characters.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 240 {
		l = l[:240] + "..."
	}
	return l
}
