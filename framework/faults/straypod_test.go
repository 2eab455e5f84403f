package faults

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

// The stray pod copies an echo pod as the API server returns it, with the
// service account token's volume and mount that admission added: the copy
// must carry neither (admission adds its own), keep the other volumes and
// their mounts, and drop the probes.
func TestStrayPodSpecDropsTheTokenVolume(t *testing.T) {
	probe := &corev1.Probe{}
	like := corev1.PodSpec{
		NodeName: "other",
		Volumes: []corev1.Volume{
			{Name: "kube-api-access-rgjwg", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
			{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		},
		Containers: []corev1.Container{{Name: "echo", ReadinessProbe: probe, LivenessProbe: probe, VolumeMounts: []corev1.VolumeMount{
			{Name: "conf", MountPath: "/etc/echo"},
			{Name: "kube-api-access-rgjwg", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"},
		}}},
	}
	got := strayPodSpec(like, "hybrid-1")
	if got.NodeName != "hybrid-1" {
		t.Errorf("node %q, want hybrid-1", got.NodeName)
	}
	if len(got.Volumes) != 1 || got.Volumes[0].Name != "conf" {
		t.Errorf("volumes %+v, want conf only", got.Volumes)
	}
	c := got.Containers[0]
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != "conf" {
		t.Errorf("mounts %+v, want conf only", c.VolumeMounts)
	}
	if c.ReadinessProbe != nil || c.LivenessProbe != nil {
		t.Error("probes kept")
	}
	if len(like.Containers[0].VolumeMounts) != 2 || like.Containers[0].ReadinessProbe == nil {
		t.Error("the echo pod's own spec was changed")
	}
}

// exclusiveTarget is a node whose CNI moves any other CNI configuration
// out of the way, as Cilium's cni.exclusive renames it to *.cilium_bak.
type exclusiveTarget struct {
	shellTarget
	kube *fake.Clientset
}

func (e *exclusiveTarget) Kube() kubernetes.Interface { return e.kube }
func (e *exclusiveTarget) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	line := strings.Join(argv, " ")
	e.cmds = append(e.cmds, node+": "+line)
	if strings.Contains(line, "test -e "+strayConf) {
		return "05-cilium.conflist\n00-hybridcni-fault.conflist.cilium_bak\n", nil
	}
	return "", nil
}

// pod-outside-block on a CNI that removes the stray configuration does not
// apply, saying what the node's configuration folder holds, and its heal
// removes the renamed file too.
func TestPodOutsideBlockOnAnExclusiveCNI(t *testing.T) {
	echo := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "echo-a", Namespace: "probes", Labels: map[string]string{"app.kubernetes.io/name": "hybridcni-echo"}},
		Spec:   corev1.PodSpec{NodeName: "hybrid-a", Containers: []corev1.Container{{Name: "echo"}}},
		Status: corev1.PodStatus{PodIP: "10.85.0.5", ContainerStatuses: []corev1.ContainerStatus{{Name: "echo"}}}}
	e := &exclusiveTarget{shellTarget: shellTarget{rules: map[string]int{}}, kube: fake.NewClientset(echo)}
	f, _ := Lookup("pod-outside-block")
	_, _, err := f.Inject(context.Background(), e)
	if !IsNotApplicable(err) {
		t.Fatalf("inject: %v, want does not apply", err)
	}
	for _, want := range []string{"hybrid-a removed the stray configuration", "00-hybridcni-fault.conflist.cilium_bak"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
	if !strings.Contains(strings.Join(e.cmds, "\n"), "rm -rf "+strayConf+"* ") {
		t.Errorf("the heal did not remove the renamed file:\n%s", strings.Join(e.cmds, "\n"))
	}
}

// bgp-resource-edited edits a number the guide's object sets, not one the
// guide leaves to the server's default (no departure from the guide); an
// object the guide does not give is never picked.
func TestGuideNumberPicksANumberTheGuideSets(t *testing.T) {
	obj := func(kind, name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "cilium.io/v2alpha1", "kind": kind,
			"metadata": map[string]any{"name": name}, "spec": spec}}
	}
	cluster := []*unstructured.Unstructured{
		obj("CiliumBGPNodeConfigOverride", "extra", map[string]any{"a": int64(1)}),
		obj("CiliumBGPPeerConfig", "peer", map[string]any{
			"gracefulRestart": map[string]any{"enabled": true, "restartTimeSeconds": int64(120)}, // server default
			"timers":          map[string]any{"holdTimeSeconds": int64(30), "keepAliveTimeSeconds": int64(10)},
		}),
	}
	guide := []*unstructured.Unstructured{
		obj("CiliumBGPPeerConfig", "peer", map[string]any{
			"gracefulRestart": map[string]any{"enabled": true},
			"timers":          map[string]any{"holdTimeSeconds": int64(30), "keepAliveTimeSeconds": int64(10)},
		}),
	}
	o, path := guideNumber(cluster, guide)
	if o == nil || o.GetName() != "peer" || strings.Join(path, ".") != "spec.timers.holdTimeSeconds" {
		t.Fatalf("picked %v %v, want peer spec.timers.holdTimeSeconds", o, path)
	}
	if o, _ := guideNumber(cluster[:1], guide); o != nil {
		t.Fatalf("picked %s, which the guide does not give", o.GetName())
	}
}
