package probe_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// TestPodPlaceExecReachesAPIServer drives the pod place's exec (client-go
// remotecommand) against a real kube-apiserver. The API tier has no kubelet,
// so it proves the request names the right pod and container and that the
// API server's refusals come back clearly; the command itself runs in the
// Docker and lab tiers.
func TestPodPlaceExecReachesAPIServer(t *testing.T) {
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		t.Skip("API tier: skipped: -short or HYBRIDCNI_UNIT_ONLY")
	}
	env := testenv.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A pod no node can take: it exists, but has no host to exec on.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client-a", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"hybridcni.dev/no-such-node": "true"},
			Containers:   []corev1.Container{{Name: "probe", Image: "hybridcni/echo:dev"}},
		},
	}
	if _, err := env.Kube().CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, container string
		want            []string
	}{
		{"no-such-pod", "", []string{"pod default/no-such-pod", `pods "no-such-pod" not found`}},
		{"client-a", "bogus", []string{"pod default/client-a", "container bogus is not valid for pod client-a"}},
		{"client-a", "probe", []string{"pod default/client-a", "pod client-a does not have a host assigned"}},
	} {
		place := probe.InPod(env.RESTConfig(), "default", tc.name, tc.container)
		var out bytes.Buffer
		code, err := place.Exec(ctx, append(place.Command(), "probe", "--target", "tcp://10.100.0.5:80"),
			probe.Stdio{Stdout: &out, Stderr: &out})
		if err == nil {
			t.Fatalf("%s/%s: exec succeeded (exit %d) with no kubelet", tc.name, tc.container, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s/%s: error lacks %q: %v", tc.name, tc.container, w, err)
			}
		}
	}
	// Through a check, the same refusal becomes an ERROR row naming the place.
	check := probe.NewCheck()
	must(t, check.Expect(probe.ExpectSuccess("pod-to-pod/cross-node",
		probe.Source{Place: probe.InPod(env.RESTConfig(), "default", "client-a", ""), Name: "client-a", IP: "10.100.0.5"},
		probe.TCPTarget("echo-b", "10.100.0.140", 8080))))
	rep := check.Run(ctx)
	wantFailure(t, rep, "could not run the probe in pod default/client-a", "does not have a host assigned")
}
