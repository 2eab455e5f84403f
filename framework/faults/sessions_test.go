package faults

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/hybridcni/hybridcni/framework/cni"
)

func TestParseSSPeers(t *testing.T) {
	out := `0      0        10.93.1.4:44321     10.93.1.254:179
0      0   [::ffff:10.93.1.4]:179   [::ffff:10.93.1.5]:51234
0      0        10.93.1.4%eth0:179  10.93.1.5:51999

`
	got := parseSSPeers(out)
	if want := []string{"10.93.1.254", "10.93.1.5"}; !slices.Equal(got, want) {
		t.Errorf("peers %v, want %v (IPv4-mapped unmapped, each once)", got, want)
	}
	if got := parseSSPeers(""); len(got) != 0 {
		t.Errorf("no connection: %v", got)
	}
}

// meshNode is a node's BGP connections as ss lists them, changed by the
// fault's rules: a router session and a node-to-node mesh session (as
// kube-router has), the mesh slower to come back after heal than the
// router's, as seen on kind.
type meshNode struct {
	mu sync.Mutex
	// meshLag: listings after heal that still lack the mesh session.
	meshLag int
	s       *shellTarget
}

func (m *meshNode) ss(node string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	resetting := false
	for k, n := range m.s.rules {
		if n > 0 && strings.HasPrefix(k, node+" ") && strings.Contains(k, "179") {
			resetting = true
		}
	}
	self, other := "10.80.0.2", "10.80.0.3"
	if node == "hybrid-b" {
		self, other = other, self
	}
	router := "0 0 " + self + ":40001 " + shellRouter + ":179\n"
	mesh := "0 0 " + self + ":179 " + other + ":40002\n"
	if resetting {
		// The rules hold (the test checks they name only the router).
		return mesh
	}
	if node == "hybrid-a" && m.meshLag > 0 && m.s.healedOnce() {
		m.meshLag--
		return router
	}
	return router + mesh
}

// healedOnce: a rule was deleted (the heal ran).
func (s *shellTarget) healedOnce() bool {
	for _, c := range s.cmds {
		if strings.Contains(c, "iptables -w -t filter -D") {
			return true
		}
	}
	return false
}

// bgp-session-reset resets only the router's connections on one node (the
// mesh stays), waits until the router's session is gone, and its heal
// returns only when every session of before the fault is back, the mesh's
// too: the kind run's heal stopped at the router's, and the next faults'
// cross-node checks (pod-to-node, pod-to-service) failed on the mesh still
// down.
func TestBGPSessionResetHealWaitsForEverySession(t *testing.T) {
	s := &shellTarget{rules: map[string]int{}}
	m := &meshNode{meshLag: 2, s: s}
	s.ss = m.ss
	f, _ := Lookup("bgp-session-reset")
	heal, names, err := f.Inject(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "hybrid-a,10.80.0.2" {
		t.Errorf("names %v", names)
	}
	if len(s.rules) != 4 {
		t.Errorf("%d rules, want INPUT/OUTPUT x dport/sport: %v", len(s.rules), s.rules)
	}
	for k := range s.rules {
		if !strings.HasPrefix(k, "hybrid-a ") || !(strings.Contains(k, "-s "+shellRouter+" ") || strings.Contains(k, "-d "+shellRouter+" ")) {
			t.Errorf("rule not limited to the router's connections on hybrid-a: %s", k)
		}
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k, n := range s.rules {
		if n != 0 {
			t.Errorf("after heal: %s still there", k)
		}
	}
	if m.meshLag != 0 {
		t.Errorf("heal returned while hybrid-a's mesh session was still down (%d listings left without it)", m.meshLag)
	}
	if got := parseSSPeers(m.ss("hybrid-a")); !slices.Equal(got, []string{shellRouter, "10.80.0.3"}) {
		t.Errorf("after heal hybrid-a has sessions %v", got)
	}
}

// The same for bgp-no-new-session: rules on every node, new connections
// with the router only, heal waits for every session.
func TestBGPNoNewSessionHealWaitsForEverySession(t *testing.T) {
	s := &shellTarget{rules: map[string]int{}}
	m := &meshNode{meshLag: 1, s: s}
	s.ss = m.ss
	f, _ := Lookup("bgp-no-new-session")
	heal, _, err := f.Inject(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for k := range s.rules {
		if !strings.Contains(k, shellRouter) {
			t.Errorf("rule not limited to the router: %s", k)
		}
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.meshLag != 0 {
		t.Errorf("heal returned while hybrid-a's mesh session was still down")
	}
}

// agentTarget is shellTarget with an agent DaemonSet on a fake API.
type agentTarget struct {
	*shellTarget
	kube *fake.Clientset
}

func (a agentTarget) Kube() kubernetes.Interface { return a.kube }
func (a agentTarget) Workloads(context.Context) ([]cni.Workload, error) {
	return []cni.Workload{{Kind: cni.KindDaemonSet, Namespace: "kube-system", Name: "agent", Agent: true}}, nil
}

// The heals of bgp-no-new-session and bgp-session-reset restart the agent
// on a node that has no session with the router once the rules are gone (a
// refused agent waits its connect retry timer, 120 s in Cilium), and only
// there; they return when the session is back.
//
// A CNI whose connect retry outlasts the grace (Cilium's) is restarted at
// the first look after the rules are gone; one not known to (kube-router)
// is looked at through the grace first, in case it connects on its own.
func TestBGPFaultHealsRestartARefusedAgent(t *testing.T) {
	for _, fault := range []string{"bgp-no-new-session", "bgp-session-reset"} {
		t.Run(fault+"/connect-retry-unknown", func(t *testing.T) {
			if looks := healRestartsRefusedAgent(t, fault, 0); looks < 2 {
				t.Errorf("the agent was restarted after %d look(s) at its sessions, with no grace to connect on its own", looks)
			}
		})
		t.Run(fault+"/connect-retry-120s", func(t *testing.T) {
			if looks := healRestartsRefusedAgent(t, fault, 120*time.Second); looks != 1 {
				t.Errorf("the agent was restarted after %d looks at its sessions, want 1: its connect retry outlasts the grace", looks)
			}
		})
	}
}

// healRestartsRefusedAgent returns how often the heal looked at the
// refused node's sessions before it restarted the agent.
func healRestartsRefusedAgent(t *testing.T, fault string, connectRetry time.Duration) (looks int) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "agent"},
		Spec:   appsv1.DaemonSetSpec{Selector: sel},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, NumberReady: 2, UpdatedNumberScheduled: 2}}
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: name, Labels: sel.MatchLabels},
			Spec:   corev1.PodSpec{NodeName: node},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	}
	kube := fake.NewSimpleClientset(ds, pod("agent-a", "hybrid-a"), pod("agent-b", "hybrid-b"))
	// The DaemonSet controller: a deleted agent comes back, ready, as a new pod.
	kube.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.DeleteAction).GetName()
		if name == "agent-a" {
			_ = kube.Tracker().Add(pod("agent-a2", "hybrid-a"))
		}
		return false, nil, nil
	})
	s := &shellTarget{rules: map[string]int{}, facts: cni.Facts{BGPConnectRetry: connectRetry}}
	restarted := func() bool {
		_, err := kube.CoreV1().Pods("kube-system").Get(context.Background(), "agent-a", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	// hybrid-a's agent lost its router session under the fault and does
	// not connect again until it restarts.
	s.ss = func(node string) string {
		if node == "hybrid-a" && !restarted() {
			if s.healedOnce() {
				looks++
			}
			return ""
		}
		return "0 0 " + map[string]string{"hybrid-a": "10.80.0.2", "hybrid-b": "10.80.0.3"}[node] + ":40001 " + shellRouter + ":179\n"
	}
	f, _ := Lookup(fault)
	heal, _, err := f.Inject(context.Background(), agentTarget{s, kube})
	if err != nil {
		t.Fatal(err)
	}
	if restarted() {
		t.Fatal("the agent was restarted by the injection")
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !restarted() {
		t.Error("heal returned without restarting hybrid-a's agent, which has no session with the router")
	}
	if _, err := kube.CoreV1().Pods("kube-system").Get(context.Background(), "agent-b", metav1.GetOptions{}); err != nil {
		t.Errorf("hybrid-b's agent, with its session, was restarted too: %v", err)
	}
	for k, n := range s.rules {
		if n != 0 {
			t.Errorf("after heal: %s still there", k)
		}
	}
	return looks
}

// A DaemonSet pod pinned to the stray node and never bound outlives the
// node: the DaemonSet controller does not watch node deletions, and the
// pod garbage collector takes bound pods only (kube-router's stayed past the
// heal's 5 min on kind). deleteStrandedPods removes it, and nothing else.
func TestDeleteStrandedPods(t *testing.T) {
	pinned := func(name, node, boundTo string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: name},
			Spec: corev1.PodSpec{NodeName: boundTo, Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}}}}}
	}
	kube := fake.NewSimpleClientset(
		pinned("agent-stray", strayNode, ""),                                          // stranded
		pinned("agent-a", "hybrid-a", ""),                                             // pinned elsewhere, pending
		pinned("agent-bound", strayNode, strayNode),                                   // bound: the pod GC's
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "probes", Name: "echo"}}, // no affinity
	)
	if err := deleteStrandedPods(context.Background(), agentTarget{&shellTarget{}, kube}, strayNode); err != nil {
		t.Fatal(err)
	}
	l, err := kube.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range l.Items {
		left = append(left, p.Name)
	}
	slices.Sort(left)
	if want := []string{"agent-a", "agent-bound", "echo"}; !slices.Equal(left, want) {
		t.Errorf("pods left %v, want %v", left, want)
	}
}

// A connection counts as a session only once the same one (both ends) has
// lasted sessionLasts: one that a collision or a refused OPEN closes and
// the node opens again (a new port each time) never does, however often
// it is polled.
func TestSessionsBackWantsALastingConnection(t *testing.T) {
	var mu sync.Mutex
	port := 40000
	flapping := true
	s := &shellTarget{rules: map[string]int{}}
	s.ss = func(node string) string {
		mu.Lock()
		defer mu.Unlock()
		self := "10.80.0.2"
		if node == "hybrid-b" {
			self = "10.80.0.3"
		}
		if flapping && node == "hybrid-a" {
			port++
		}
		return fmt.Sprintf("0 0 %s:%d %s:179\n", self, port, shellRouter)
	}
	before := bgpSessions{"hybrid-a": {shellRouter}, "hybrid-b": {shellRouter}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*sessionLasts)
	defer cancel()
	err := sessionsBack(ctx, s, before)
	if err == nil || !strings.Contains(err.Error(), "node hybrid-a has no lasting BGP session") {
		t.Fatalf("a connection opened anew on every poll: %v, want hybrid-a named without a lasting session", err)
	}
	mu.Lock()
	flapping = false
	mu.Unlock()
	start := time.Now()
	if err := sessionsBack(context.Background(), s, before); err != nil {
		t.Fatalf("steady connections: %v", err)
	}
	if d := time.Since(start); d < sessionLasts {
		t.Errorf("steady connections counted after %s, before they lasted %s", d, sessionLasts)
	}
}

// The heal of agent-affinity-removed returns only once every agent pod is
// Ready, though the DaemonSet's status counts them all ready sooner: polled
// every 500 ms on kind, it once returned with the new agent on a hybrid node
// still Pending, and the placement check after it failed on that.
func TestAffinityHealWaitsForTheAgentPods(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "agent", Generation: 3},
		Spec:   appsv1.DaemonSetSpec{Selector: sel},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 3, DesiredNumberScheduled: 2, NumberReady: 2, UpdatedNumberScheduled: 2}}
	ready := corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	a := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "agent-a", Labels: sel.MatchLabels},
		Spec: corev1.PodSpec{NodeName: "hybrid-a"}, Status: ready}
	b := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "agent-b", Labels: sel.MatchLabels},
		Spec: corev1.PodSpec{NodeName: "hybrid-b"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	kube := fake.NewSimpleClientset(ds, a, b)
	target := agentTarget{&shellTarget{rules: map[string]int{}}, kube}
	heal := restoreAffinityFn(target, kube.AppsV1().DaemonSets("kube-system"), ds, &corev1.PodSpec{}, []string{"cloud-1"})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := heal(ctx); err == nil {
		t.Fatal("the heal returned with agent-b Pending")
	}
	b.Status = ready
	if _, err := kube.CoreV1().Pods("kube-system").UpdateStatus(context.Background(), b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := heal(context.Background()); err != nil {
		t.Fatalf("every agent pod Ready: %v", err)
	}
}
