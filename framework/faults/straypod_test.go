package faults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
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
