package cloudcni

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
)

func node(name, ip string, labels map[string]string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
}

var (
	hybridLabels = map[string]string{cni.HybridLabel: cni.HybridValue}
	cpLabels     = map[string]string{ControlPlaneLabel: ""}
)

func TestBlockFromNodeAddress(t *testing.T) {
	for ip, want := range map[string]string{"10.93.5.2": "100.69.2.0/24", "10.80.0.3": "100.64.3.0/24", "192.168.63.255": "100.127.255.0/24"} {
		got, err := Block(netip.MustParseAddr(ip))
		if err != nil || got.String() != want {
			t.Errorf("Block(%s) = %s, %v; want %s", ip, got, err, want)
		}
		if !PodCIDR.Contains(got.Addr()) {
			t.Errorf("Block(%s) = %s is outside %s", ip, got, PodCIDR)
		}
	}
	// Every address of a /18 node network gets its own block.
	seen := map[netip.Prefix]netip.Addr{}
	a := netip.MustParseAddr("10.93.0.0")
	for i := 0; i < 1<<14; i++ {
		b, _ := Block(a)
		if o, dup := seen[b]; dup {
			t.Fatalf("%s and %s share block %s", o, a, b)
		}
		seen[b] = a
		a = a.Next()
	}
	if _, err := Block(netip.MustParseAddr("fd00::1")); err == nil {
		t.Error("an IPv6 node address gave a block")
	}
}

func TestPlanPerNodeRole(t *testing.T) {
	nodes := []corev1.Node{
		node("cp", "10.93.5.2", cpLabels),
		node("cloud-1", "10.93.5.3", nil),
		node("cloud-2", "10.93.5.4", nil),
		node("hybrid-1", "10.93.5.5", hybridLabels),
	}
	cp, err := PlanFor("cp", nodes)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Conf != nil || cp.Idle != "" || len(cp.Routes) != 2 ||
		cp.Routes[0] != (Route{netip.MustParsePrefix("100.69.3.0/24"), netip.MustParseAddr("10.93.5.3"), "cloud-1"}) ||
		cp.Routes[1] != (Route{netip.MustParsePrefix("100.69.4.0/24"), netip.MustParseAddr("10.93.5.4"), "cloud-2"}) {
		t.Errorf("control plane: routes to both workers and no CNI configuration, got %+v", cp)
	}
	w, err := PlanFor("cloud-1", nodes)
	if err != nil {
		t.Fatal(err)
	}
	if w.Block.String() != "100.69.3.0/24" || len(w.Routes) != 1 || w.Routes[0].Node != "cloud-2" {
		t.Errorf("cloud-1: its block and a route to cloud-2 only, got %+v", w)
	}
	var conf struct {
		Plugins []struct {
			Type string
			IPAM struct {
				Ranges [][]struct{ Subnet string }
			}
		}
	}
	if err := json.Unmarshal(w.Conf, &conf); err != nil || conf.Plugins[0].Type != "ptp" || conf.Plugins[0].IPAM.Ranges[0][0].Subnet != "100.69.3.0/24" {
		t.Errorf("cloud-1's configuration: %v\n%s", err, w.Conf)
	}
	h, err := PlanFor("hybrid-1", nodes)
	if err != nil || h.Idle == "" || h.Conf != nil || len(h.Routes) != 0 || !strings.Contains(h.Idle, "hybrid-1") {
		t.Errorf("a hybrid node must be left alone, naming it: %+v %v", h, err)
	}
	// Two workers whose addresses give one block: named, not half-configured.
	clash := append(nodes, node("cloud-3", "10.93.69.3", nil))
	if _, err := PlanFor("cloud-1", clash); err == nil || !strings.Contains(err.Error(), "cloud-1") || !strings.Contains(err.Error(), "cloud-3") {
		t.Errorf("clashing blocks: %v", err)
	}
	if _, err := PlanFor("gone", nodes); err == nil {
		t.Error("a node missing from the list gave a plan")
	}
}

func TestPlacementNamesNodeAndPod(t *testing.T) {
	nodes := []corev1.Node{node("cp", "10.93.5.2", cpLabels), node("cloud-1", "10.93.5.3", nil), node("hybrid-1", "10.93.5.5", hybridLabels)}
	pod := func(name, on string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: on}}
	}
	wrong, n := Placement(nodes, []corev1.Pod{pod("a", "cp"), pod("b", "cloud-1")})
	if len(wrong) != 0 || n != 2 {
		t.Errorf("good placement: %v, %d cloud nodes", wrong, n)
	}
	wrong, n = Placement(nodes, []corev1.Pod{pod("a", "cp"), pod("c", "hybrid-1")})
	got := strings.Join(wrong, "\n")
	if n != 1 || !strings.Contains(got, "hybrid node hybrid-1 runs cloud CNI pod c") || !strings.Contains(got, "cloud node cloud-1 has no") {
		t.Errorf("bad placement: %q, %d", got, n)
	}
	if _, n := Placement(nodes[2:], nil); n != 0 {
		t.Errorf("no cloud node: %d counted", n)
	}
}
