package nodeimage

import (
	"os"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const cniMissing = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"

func node(name string, labels map[string]string, kubelet string, ready corev1.ConditionStatus, msg string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	n.Status.NodeInfo.KubeletVersion = kubelet
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletNotReady", Message: msg}}
	}
	return n
}

var (
	cpLabels     = map[string]string{"node-role.kubernetes.io/control-plane": ""}
	hybridLabels = map[string]string{"eks.amazonaws.com/compute-type": "hybrid"}
	want         = Expect{KubeletVersion: "v1.37.2", ControlPlanes: 1, Hybrid: 1}
)

func TestCheckAwaitingCNIPasses(t *testing.T) {
	nodes := []corev1.Node{
		node("c-control-plane", cpLabels, "v1.37.2", corev1.ConditionFalse, cniMissing),
		node("c-worker", hybridLabels, "v1.37.2", corev1.ConditionFalse, cniMissing),
	}
	if err := CheckAwaitingCNI(nodes, want); err != nil {
		t.Fatal(err)
	}
}

func TestCheckAwaitingCNIFails(t *testing.T) {
	cases := map[string]struct {
		nodes []corev1.Node
		msg   string
	}{
		"ready without CNI": {[]corev1.Node{
			node("cp", cpLabels, "v1.37.2", corev1.ConditionFalse, cniMissing),
			node("w", hybridLabels, "v1.37.2", corev1.ConditionTrue, "kubelet is posting ready status")}, "node w is Ready with no CNI installed"},
		"other reason": {[]corev1.Node{
			node("cp", cpLabels, "v1.37.2", corev1.ConditionFalse, "PLEG is not healthy"),
			node("w", hybridLabels, "v1.37.2", corev1.ConditionFalse, cniMissing)}, "node cp is NotReady for another reason than the missing CNI"},
		"wrong kubelet": {[]corev1.Node{
			node("cp", cpLabels, "v0.0.0-master", corev1.ConditionFalse, cniMissing),
			node("w", hybridLabels, "v1.37.2", corev1.ConditionFalse, cniMissing)}, `node cp runs kubelet "v0.0.0-master", want "v1.37.2"`},
		"worker not registered": {[]corev1.Node{
			node("cp", cpLabels, "v1.37.2", corev1.ConditionFalse, cniMissing)}, "0 hybrid nodes"},
		"hybrid label lost": {[]corev1.Node{
			node("cp", cpLabels, "v1.37.2", corev1.ConditionFalse, cniMissing),
			node("w", nil, "v1.37.2", corev1.ConditionFalse, cniMissing)}, "0 hybrid nodes"},
		"control plane labelled hybrid": {[]corev1.Node{
			node("cp", map[string]string{"node-role.kubernetes.io/control-plane": "", "eks.amazonaws.com/compute-type": "hybrid"}, "v1.37.2", corev1.ConditionFalse, cniMissing),
			node("w", hybridLabels, "v1.37.2", corev1.ConditionFalse, cniMissing)}, "control-plane node cp carries the hybrid label"},
		"no condition yet": {[]corev1.Node{
			node("cp", cpLabels, "v1.37.2", "", ""),
			node("w", hybridLabels, "v1.37.2", corev1.ConditionFalse, cniMissing)}, "node cp has no Ready condition yet"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := CheckAwaitingCNI(c.nodes, want)
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want one containing %q", err, c.msg)
			}
		})
	}
}

// The Go constant and the tools module must name the same Kubernetes.
func TestKubernetesVersionMatchesToolsModule(t *testing.T) {
	raw, err := os.ReadFile("../../tools/k8s/" + KubernetesVersion + "/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^require k8s.io/kubernetes (v\S+)`).FindSubmatch(raw)
	if m == nil || string(m[1]) != KubernetesVersion {
		t.Fatalf("tools/k8s/%s/go.mod requires k8s.io/kubernetes %q, KubernetesVersion is %q: change both together", KubernetesVersion, m, KubernetesVersion)
	}
	if Tag("1.37.2") != "hybridcni/node:v1.37.2" || Tag("v1.37.2") != "hybridcni/node:v1.37.2" {
		t.Fatalf("Tag = %s", Tag("1.37.2"))
	}
}
