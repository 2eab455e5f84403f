package cloudcni_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridcni/hybridcni/framework/cloudcni"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// On a real API server with kwok nodes: the cloud CNI's DaemonSet lands on
// the cloud nodes only and its placement passes; without its anti-affinity
// (what the fault cloud-cni-affinity-removed does) its pods land on the
// hybrid nodes, and the judgement names each hybrid node and pod.
func TestPlacementAPITier(t *testing.T) {
	e := testenv.StartT(t, testenv.WithHybridNodes(2), testenv.WithCloudNodes(2))
	ctx := context.Background()
	kube := e.Kube()
	if err := cloudcni.Deploy(ctx, kube, "hybridcni/echo:test"); err != nil {
		t.Fatal(err)
	}
	if err := cloudcni.WaitReady(ctx, kube, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	wrong, seen, err := cloudcni.CheckPlacement(ctx, kube)
	if err != nil || len(wrong) != 0 || seen != 2 {
		t.Fatalf("placement with the anti-affinity: %v %v, %d cloud nodes with an agent (want 2)", err, wrong, seen)
	}
	// Deploying again (a second run on one cluster) changes nothing.
	if err := cloudcni.Deploy(ctx, kube, "hybridcni/echo:test"); err != nil {
		t.Fatal(err)
	}

	dsc := kube.AppsV1().DaemonSets(cloudcni.Namespace)
	ds, err := dsc.Get(ctx, cloudcni.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds.Spec.Template.Spec.Affinity = nil
	if _, err := dsc.Update(ctx, ds, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got string
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		wrong, _, err := cloudcni.CheckPlacement(ctx, kube)
		got = strings.Join(wrong, "\n")
		return err == nil && len(wrong) == len(e.HybridNodes()), nil
	})
	if err != nil {
		t.Fatalf("without the anti-affinity, want one complaint per hybrid node, got:\n%s", got)
	}
	for _, h := range e.HybridNodes() {
		if !strings.Contains(got, "hybrid node "+h+" runs cloud CNI pod "+cloudcni.Name+"-") {
			t.Errorf("the judgement does not name hybrid node %s and its pod:\n%s", h, got)
		}
	}
}
