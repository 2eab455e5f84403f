package suites

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/probe"
)

// The probe workload: two echo pods on every hybrid node and a Service.
const (
	workloadNamespace = "hybridcni-probes"
	echoHTTPPort      = 8080
	echoUDPPort       = 9000
	echoService       = "echo"
	labelApp          = "app.kubernetes.io/name"
	labelNode         = "hybridcni.dev/node"
	labelSlot         = "hybridcni.dev/slot"
)

// echoPod is one deployed echo pod.
type echoPod struct {
	Name, Node, NodeIP, IP string
}

// workload is what the dataplane specs probe.
type workload struct {
	// pods by hybrid node, two each ("a" and "b").
	pods      map[string][2]echoPod
	order     []string // hybrid node names, in order
	serviceIP string
	// nodeServiceIP is, per node, the ClusterIP of a service whose only
	// backend is that node's "a" pod.
	nodeServiceIP map[string]string
}

// nodeServiceName is the service backed only by a node's "a" pod.
func nodeServiceName(node string) string {
	name := "echo-at-" + node
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// deployWorkload creates the namespace, the echo pods and the Service, and
// waits until every pod runs with an address.
func (w *world) deployWorkload(ctx context.Context) (*workload, error) {
	kube := w.env.Kube
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workloadNamespace}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create namespace %s: %w", workloadNamespace, err)
	}
	wl := &workload{pods: map[string][2]echoPod{}}
	for _, n := range w.env.HybridNodes() {
		wl.order = append(wl.order, n.Name)
		for _, slot := range []string{"a", "b"} {
			if _, err := kube.CoreV1().Pods(workloadNamespace).Create(ctx, w.echoPodSpec(n.Name, slot), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("create echo pod on %s: %w", n.Name, err)
			}
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: echoService, Namespace: workloadNamespace, Labels: map[string]string{"advertise": "bgp"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{labelApp: "hybridcni-echo", labelSlot: "a"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: echoHTTPPort, TargetPort: intstr.FromInt32(echoHTTPPort), Protocol: corev1.ProtocolTCP},
				{Name: "udp", Port: echoUDPPort, TargetPort: intstr.FromInt32(echoUDPPort), Protocol: corev1.ProtocolUDP},
			},
		},
	}
	created, err := kube.CoreV1().Services(workloadNamespace).Create(ctx, svc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = kube.CoreV1().Services(workloadNamespace).Get(ctx, echoService, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create service %s: %w", echoService, err)
	}
	wl.serviceIP = created.Spec.ClusterIP
	wl.nodeServiceIP = map[string]string{}
	for _, node := range wl.order {
		ns := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: nodeServiceName(node), Namespace: workloadNamespace},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{labelApp: "hybridcni-echo", labelSlot: "a", labelNode: node},
				Ports:    []corev1.ServicePort{{Name: "http", Port: echoHTTPPort, TargetPort: intstr.FromInt32(echoHTTPPort), Protocol: corev1.ProtocolTCP}},
			},
		}
		got, err := kube.CoreV1().Services(workloadNamespace).Create(ctx, ns, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			got, err = kube.CoreV1().Services(workloadNamespace).Get(ctx, ns.Name, metav1.GetOptions{})
		}
		if err != nil {
			return nil, fmt.Errorf("create service %s: %w", ns.Name, err)
		}
		wl.nodeServiceIP[node] = got.Spec.ClusterIP
	}

	nodeIP := map[string]string{}
	for _, n := range w.env.Nodes {
		nodeIP[n.Name] = n.Address
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := kube.CoreV1().Pods(workloadNamespace).List(ctx, metav1.ListOptions{LabelSelector: labelApp + "=hybridcni-echo"})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, p := range list.Items {
			if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || !cni.PodReady(&p) {
				reason, detail, _ := cni.PodProblem(&p)
				last = fmt.Sprintf("pod %s on %s: %s (%s)", p.Name, p.Spec.NodeName, reason, detail)
				continue
			}
			node := p.Labels[labelNode]
			pair := wl.pods[node]
			i := 0
			if p.Labels[labelSlot] == "b" {
				i = 1
			}
			pair[i] = echoPod{Name: p.Name, Node: node, NodeIP: nodeIP[node], IP: p.Status.PodIP}
			wl.pods[node] = pair
			ready++
		}
		return ready == 2*len(wl.order), nil
	})
	if err != nil {
		return nil, fmt.Errorf("echo pods not running with an address within 5 minutes (last: %s): %w", last, err)
	}
	return wl, nil
}

func (w *world) echoPodSpec(node, slot string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("echo-%s-%s", node, slot),
			Namespace: workloadNamespace,
			Labels:    map[string]string{labelApp: "hybridcni-echo", labelNode: node, labelSlot: slot},
		},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": node},
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name:  "echo",
				Image: w.env.EchoImage,
				Args:  []string{fmt.Sprintf("--http-port=%d", echoHTTPPort), fmt.Sprintf("--udp-port=%d", echoUDPPort)},
				Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: echoHTTPPort, Protocol: corev1.ProtocolTCP},
					{Name: "udp", ContainerPort: echoUDPPort, Protocol: corev1.ProtocolUDP},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: "/healthz", Port: intstr.FromInt32(echoHTTPPort)}}, PeriodSeconds: 2},
				ImagePullPolicy: corev1.PullIfNotPresent,
				SecurityContext: w.probeSecurity(),
			}},
		},
	}
}

// source is a probe source running in an echo pod.
func (w *world) source(p echoPod) probe.Source {
	return probe.Source{Place: probe.InPod(w.env.REST, workloadNamespace, p.Name, "echo"), Name: p.Name, IP: p.IP}
}

// target is the HTTP /clientip endpoint of an echo pod.
func target(p echoPod) probe.Target {
	return probe.HTTPTarget(p.Name, p.IP, echoHTTPPort, "/clientip")
}

// probeSecurity is the probe containers' security context: CAP_NET_ADMIN
// where the environment allows it (Env.ProbeNetAdmin), for the UDP
// sockets' receive buffers; nil elsewhere.
func (w *world) probeSecurity() *corev1.SecurityContext {
	if !w.env.ProbeNetAdmin {
		return nil
	}
	return &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
}
