package cni

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPodProblemClassifiesWhatTheKubeletReports(t *testing.T) {
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	waiting := func(reason string) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "agent", Image: "quay.io/cilium/cilium:v1.16.18", RestartCount: 4,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "m"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}},
		}}}
	}
	cases := []struct {
		name   string
		pod    corev1.Pod
		reason string
		detail string
	}{
		{"running and ready", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: ready}}, "", ""},
		{"crash loop", corev1.Pod{Status: waiting("CrashLoopBackOff")}, ReasonCrashLooping, "CrashLoopBackOff, 4 restarts, last exit code 137 (OOMKilled)"},
		{"crash loop with last words", func() corev1.Pod {
			p := corev1.Pod{Status: waiting("CrashLoopBackOff")}
			p.Status.ContainerStatuses[0].LastTerminationState.Terminated.Message = "level=info msg=start\nlevel=fatal msg=\"could not run bpftool\"\n"
			return p
		}(), ReasonCrashLooping, `last exit code 137 (OOMKilled): level=fatal msg="could not run bpftool"`},
		{"cannot start", func() corev1.Pod {
			p := corev1.Pod{Status: waiting("RunContainerError")}
			p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{}
			p.Status.ContainerStatuses[0].State.Waiting.Message = "runc create failed: unable to apply caps: operation not permitted"
			return p
		}(), ReasonCrashLooping, "RunContainerError, 4 restarts: runc create failed: unable to apply caps"},
		{"image pull", corev1.Pod{Status: waiting("ErrImagePull")}, ReasonImagePull, "image quay.io/cilium/cilium:v1.16.18: ErrImagePull"},
		{"unschedulable", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Too many pods."}}}},
			ReasonUnschedulable, "3 Too many pods"},
		{"pending on a node", corev1.Pod{Spec: corev1.PodSpec{NodeName: "hybrid-node-1"}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
			ReasonPending, "scheduled on hybrid-node-1"},
		{"running, not ready", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "agent"}}}},
			ReasonNotReady, "containers not ready: agent"},
	}
	for _, c := range cases {
		reason, detail, bad := PodProblem(&c.pod)
		if bad != (c.reason != "") || reason != c.reason || !strings.Contains(detail, c.detail) {
			t.Errorf("%s: got %q %q %v, want %q containing %q", c.name, reason, detail, bad, c.reason, c.detail)
		}
	}
}

// CheckReadiness on a fake clientset: one hybrid node without its agent
// pod, a cloud node with one, and an operator that is not available.
func TestCheckReadinessNamesNodesAndWorkloads(t *testing.T) {
	hybrid := func(name string, readyStatus corev1.ConditionStatus) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{HybridLabel: HybridValue}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: readyStatus, Message: "cni plugin not initialized"}}}}
	}
	cloud := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cloud-1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "cilium"}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "cilium", Namespace: "kube-system", UID: types.UID("ds-1")},
		Spec:   appsv1.DaemonSetSpec{Selector: sel},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, NumberReady: 2, UpdatedNumberScheduled: 2}}
	agent := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: sel.MatchLabels,
			OwnerReferences: []metav1.OwnerReference{{UID: ds.UID, Kind: "DaemonSet", Name: "cilium"}}},
			Spec:   corev1.PodSpec{NodeName: node},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	}
	one := int32(1)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "cilium-operator", Namespace: "kube-system"},
		Spec:   appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"io.cilium/app": "operator"}}},
		Status: appsv1.DeploymentStatus{UpdatedReplicas: 1, AvailableReplicas: 0}}
	kube := fake.NewClientset(hybrid("h-1", corev1.ConditionTrue), hybrid("h-2", corev1.ConditionFalse), cloud, ds,
		agent("cilium-a", "h-1"), agent("cilium-c", "cloud-1"), dep)
	c := &Cluster{Kube: kube}
	spec := ReadinessSpec{Workloads: []Workload{
		{Kind: KindDaemonSet, Namespace: "kube-system", Name: "cilium", Agent: true},
		{Kind: KindDeployment, Namespace: "kube-system", Name: "cilium-operator", HybridOnly: true},
	}}
	r, err := CheckReadiness(context.Background(), c, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ object, reason string }{
		{"node h-2", ReasonNotReady},
		{"node h-2", ReasonMissing},
		{"node cloud-1", ReasonWrongNode},
		{"Deployment kube-system/cilium-operator", ReasonNotReady},
	} {
		if !r.Has(want.object, want.reason) {
			t.Errorf("no problem %s: %s in\n%v", want.object, want.reason, r.Err())
		}
	}
	if r.Has("node h-1", "") {
		t.Errorf("h-1 is fine but reported:\n%v", r.Err())
	}
	if len(r.Problems) != 4 {
		t.Errorf("%d problems, want 4:\n%v", len(r.Problems), r.Err())
	}

	// All fixed: ready.
	kube = fake.NewClientset(hybrid("h-1", corev1.ConditionTrue), hybrid("h-2", corev1.ConditionTrue), cloud, ds,
		agent("cilium-a", "h-1"), agent("cilium-b", "h-2"),
		&appsv1.Deployment{ObjectMeta: dep.ObjectMeta, Spec: dep.Spec, Status: appsv1.DeploymentStatus{UpdatedReplicas: 1, AvailableReplicas: 1, ReadyReplicas: 1}})
	r, err = CheckReadiness(context.Background(), &Cluster{Kube: kube}, spec)
	if err != nil || !r.OK() {
		t.Fatalf("ready cluster reported: %v %v", err, r.Err())
	}
}

func TestCleanupReportNamesWhatIsStuck(t *testing.T) {
	if (&CleanupReport{}).Err() != nil {
		t.Error("an empty report is an error")
	}
	r := &CleanupReport{Stuck: []Stuck{{Object: "Installation default", Finalizers: []string{"tigera.io/operator-cleanup"}, Why: "keeps CRD installations.operator.tigera.io from being deleted"}}}
	msg := r.Err().Error()
	for _, want := range []string{"1 object(s) stuck", "Installation default held by finalizers tigera.io/operator-cleanup", "--remove-finalizers"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q missing from %s", want, msg)
		}
	}
}
