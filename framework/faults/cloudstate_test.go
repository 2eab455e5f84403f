package faults

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

// localConfTarget runs a node's commands on this machine, its CNI
// configuration folder being dir.
type localConfTarget struct {
	shellTarget
	kube *fake.Clientset
	dir  string
}

func (l *localConfTarget) Kube() kubernetes.Interface { return l.kube }
func (l *localConfTarget) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	for i := range argv {
		argv[i] = strings.ReplaceAll(argv[i], cniConfDir, l.dir)
	}
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// A Cilium agent that landed on a cloud node moved the cloud CNI's file
// aside, wrote its own, and its operator tainted the node: heal puts the
// folder back as it was, contents included, and removes only the new
// taint. (On kind the cloud node kept node.cilium.io/agent-not-ready and
// lost its configuration, so the next pod there never ran.)
func TestCloudNodesRestoredAfterAnAgentLandedThere(t *testing.T) {
	dir := t.TempDir()
	cloudConf := filepath.Join(dir, "10-cloud.conflist")
	if err := os.WriteFile(cloudConf, []byte(`{"name":"cloud"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	own := corev1.Taint{Key: "dedicated", Value: "cloud", Effect: corev1.TaintEffectNoSchedule}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cloud-1"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{own}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	l := &localConfTarget{shellTarget: shellTarget{rules: map[string]int{}}, kube: fake.NewClientset(node), dir: dir}
	ctx := context.Background()
	before, err := cloudNodeState(ctx, l)
	if err != nil {
		t.Fatal(err)
	}

	// The agent's doing.
	if err := os.Rename(cloudConf, cloudConf+".cilium_bak"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "05-cilium.conflist"), []byte(`{"name":"cilium"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "node.cilium.io/agent-not-ready", Effect: corev1.TaintEffectNoSchedule})
	if _, err := l.kube.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := before.restore(ctx, l); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"10-cloud.conflist"}) {
		t.Errorf("folder holds %v, want 10-cloud.conflist only", names)
	}
	if b, _ := os.ReadFile(cloudConf); string(b) != `{"name":"cloud"}` {
		t.Errorf("10-cloud.conflist holds %q", b)
	}
	got, err := l.kube.CoreV1().Nodes().Get(ctx, "cloud-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Taints) != 1 || got.Spec.Taints[0] != own {
		t.Errorf("taints %v, want only %v", got.Spec.Taints, own)
	}
}
