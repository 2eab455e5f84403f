package faults

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
)

// service-target-port-broken on a real API server (kwok pods): the
// Service backed only by one node's pod points at port 1, and every one of
// its EndpointSlices follows; heal puts the target port back and returns
// only when every slice is at it again, the pod still its endpoint.
func TestServiceTargetPortBrokenAPITier(t *testing.T) {
	ctx := context.Background()
	target := apiTierTarget(t, 2)
	kube := target.cluster.Kube
	ns := target.Namespace()
	nodes := target.nodes
	name := nodeService + nodes[0].Name
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "echo-a", Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{NodeName: nodes[0].Name, Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{Name: "echo", Image: "echo:test", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}}}
	svc, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// state is the Service's target port and its slices' ports and
	// endpoint addresses.
	state := func() (int32, []int32, []string) {
		t.Helper()
		cur, err := kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sl, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
		if err != nil {
			t.Fatal(err)
		}
		var ports []int32
		var addrs []string
		for _, s := range sl.Items {
			for _, p := range s.Ports {
				if p.Port != nil {
					ports = append(ports, *p.Port)
				}
			}
			for _, e := range s.Endpoints {
				addrs = append(addrs, e.Addresses...)
			}
		}
		return cur.Spec.Ports[0].TargetPort.IntVal, ports, addrs
	}
	// The pod Ready (kwok) and its endpoint in the Service's slice first.
	var last string
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		tp, ports, addrs := state()
		last = fmt.Sprintf("target port %d, slice ports %v, endpoints %v", tp, ports, addrs)
		return len(addrs) == 1 && slices.Equal(ports, []int32{8080}), nil
	}); err != nil {
		t.Fatalf("the Service's endpoint never showed: %s", last)
	}
	_, _, addrs := state()

	f, _ := Lookup("service-target-port-broken")
	heal, names, err := f.Inject(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, name) || !slices.Contains(names, svc.Spec.ClusterIP) {
		t.Errorf("names %v, want the Service %s and its ClusterIP %s", names, name, svc.Spec.ClusterIP)
	}
	if tp, ports, _ := state(); tp != 1 || !slices.Equal(ports, []int32{1}) {
		t.Errorf("under the fault: target port %d, slice ports %v; want 1 and [1]", tp, ports)
	}
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	tp, ports, after := state()
	if tp != 8080 || !slices.Equal(ports, []int32{8080}) || !slices.Equal(after, addrs) {
		t.Errorf("after heal: target port %d, slice ports %v, endpoints %v; want 8080, [8080], %v", tp, ports, after, addrs)
	}
}
