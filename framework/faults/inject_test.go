package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/router"
)

// shellTarget records the commands a fault runs on nodes and keeps the
// iptables rules it inserts, so heal can be seen deleting them.
type shellTarget struct {
	facts cni.Facts
	cmds  []string
	rules map[string]int // node + " " + rule -> copies
	// ss answers a node's listing of established BGP connections (ss
	// output); nil: one session, with the router.
	ss func(node string) string
}

// shellRouter is shellTarget's router address.
const shellRouter = "10.80.0.1"

func (s *shellTarget) CNI() string                { return "test" }
func (s *shellTarget) Kube() kubernetes.Interface { return nil }
func (s *shellTarget) Dynamic() dynamic.Interface { return nil }
func (s *shellTarget) HybridNodes() []Node {
	return []Node{{"hybrid-a", "10.80.0.2"}, {"hybrid-b", "10.80.0.3"}}
}
func (s *shellTarget) CloudNodes() []Node                                { return []Node{{"cloud-1", "10.80.0.9"}} }
func (s *shellTarget) Facts() cni.Facts                                  { return s.facts }
func (s *shellTarget) Workloads(context.Context) ([]cni.Workload, error) { return nil, nil }
func (s *shellTarget) Namespace() string                                 { return "probes" }
func (s *shellTarget) PodCIDR() string                                   { return "10.85.0.0/16" }
func (s *shellTarget) OnPremAddress() string                             { return "10.90.0.5" }
func (s *shellTarget) PodsRoutable() bool                                { return true }
func (s *shellTarget) EchoImage() string                                 { return "echo:test" }
func (s *shellTarget) BGP() config.BGP                                   { return config.BGP{RouterAddress: shellRouter} }
func (s *shellTarget) BGPResources(context.Context) ([]*unstructured.Unstructured, error) {
	return nil, nil
}
func (s *shellTarget) GuideBGPResources() []*unstructured.Unstructured { return nil }
func (s *shellTarget) Network() config.Network {
	return config.Network{PodCIDR: "10.85.0.0/16", NodeCIDR: "10.80.0.0/24", ServiceCIDR: "10.96.0.0/16", BlockSize: 24}
}
func (s *shellTarget) Router() *router.Client { return nil }
func (s *shellTarget) Profile() cni.Profile   { return nil }
func (s *shellTarget) Cluster() *cni.Cluster  { return nil }
func (s *shellTarget) Exec(_ context.Context, node string, argv ...string) (string, error) {
	line := strings.Join(argv, " ")
	s.cmds = append(s.cmds, node+": "+line)
	if argv[0] == "sh" && strings.Contains(line, "ss -Htn state established") {
		if s.ss != nil {
			return s.ss(node), nil
		}
		return "0 0 10.80.0.2:40001 " + shellRouter + ":179\n", nil // one BGP session, with the router
	}
	if argv[0] != "iptables" {
		return "", nil
	}
	op := argv[4]
	key := node + " " + strings.Join(append(argv[2:4:4], argv[5:]...), " ")
	switch op {
	case "-I":
		s.rules[key]++
	case "-D", "-C":
		if s.rules[key] == 0 {
			return "", fmt.Errorf("no such rule")
		}
		if op == "-D" {
			s.rules[key]--
		}
	}
	return "", nil
}

func TestVXLANPortDroppedBothWaysAndHealed(t *testing.T) {
	s := &shellTarget{facts: cni.Facts{VXLANPort: 8472}, rules: map[string]int{}}
	f, _ := Lookup("vxlan-port-dropped")
	heal, names, err := f.Inject(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"hybrid-a: iptables -w -t filter -I OUTPUT -m comment --comment hybridcni-fault -p udp -d 10.80.0.3 --dport 8472 -j DROP",
		"hybrid-b: iptables -w -t filter -I OUTPUT -m comment --comment hybridcni-fault -p udp -d 10.80.0.2 --dport 8472 -j DROP",
	}
	if strings.Join(s.cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s", strings.Join(s.cmds, "\n"))
	}
	if strings.Join(names, ",") != "hybrid-a,hybrid-b" {
		t.Errorf("names %v", names)
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k, n := range s.rules {
		if n != 0 {
			t.Errorf("after heal: %s still there", k)
		}
	}
	// A CNI without a VXLAN port: the fault does not apply.
	if _, _, err := f.Inject(context.Background(), &shellTarget{rules: map[string]int{}}); !IsNotApplicable(err) {
		t.Errorf("no VXLAN port: %v", err)
	}
}

func TestStraySNATAndFileLeft(t *testing.T) {
	s := &shellTarget{facts: cni.Facts{NodeFiles: []string{"/etc/cni/net.d/05-cilium.conflist"}}, rules: map[string]int{}}
	f, _ := Lookup("stray-snat")
	heal, _, err := f.Inject(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(s.cmds, "\n"), "hybrid-b: iptables -w -t nat -I POSTROUTING -m comment --comment hybridcni-fault -s 10.85.0.0/16 -d 10.90.0.5 -j MASQUERADE") {
		t.Errorf("commands:\n%s", strings.Join(s.cmds, "\n"))
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.cmds = nil
	f, _ = Lookup("cni-file-left")
	heal, names, err := f.Inject(context.Background(), s)
	if err != nil || strings.Join(names, ",") != "hybrid-a,05-cilium.conflist" {
		t.Fatalf("%v %v", names, err)
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.cmds, "\n"); !strings.Contains(got, "> '/etc/cni/net.d/05-cilium.conflist'") || !strings.Contains(got, "rm -f /etc/cni/net.d/05-cilium.conflist") {
		t.Errorf("commands:\n%s", got)
	}
}

// Pings from pods to one node are dropped, nothing else; the rule goes on heal.
func TestPodToNodeDroppedIsICMPOnly(t *testing.T) {
	s := &shellTarget{rules: map[string]int{}}
	f, _ := Lookup("pod-to-node-dropped")
	heal, names, err := f.Inject(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := "hybrid-a: iptables -w -t raw -I PREROUTING -m comment --comment hybridcni-fault -s 10.85.0.0/16 -d 10.80.0.2 -p icmp --icmp-type echo-request -j DROP"
	if strings.Join(s.cmds, "\n") != want {
		t.Errorf("commands:\n%s", strings.Join(s.cmds, "\n"))
	}
	if strings.Join(names, ",") != "hybrid-a,10.80.0.2" {
		t.Errorf("names %v", names)
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k, n := range s.rules {
		if n != 0 {
			t.Errorf("after heal: %s still there", k)
		}
	}
}

// Only new BGP connections are reset (the sessions in place stay), on every
// hybrid node, both directions; heal removes every rule and waits for sessions.
func TestBGPNoNewSessionSparesEstablished(t *testing.T) {
	s := &shellTarget{rules: map[string]int{}}
	f, _ := Lookup("bgp-no-new-session")
	heal, names, err := f.Inject(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.rules) != 8 {
		t.Errorf("%d rules, want 2 nodes x INPUT/OUTPUT x dport/sport: %v", len(s.rules), s.rules)
	}
	for k := range s.rules {
		if !strings.Contains(k, "--ctstate NEW -j REJECT --reject-with tcp-reset") {
			t.Errorf("rule not limited to new connections: %s", k)
		}
	}
	if strings.Join(names, ",") != "hybrid-a,hybrid-b" {
		t.Errorf("names %v", names)
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k, n := range s.rules {
		if n != 0 {
			t.Errorf("after heal: %s still there", k)
		}
	}
}

// The BGP resource edit picks the first number in key order, through maps.
func TestFirstNumber(t *testing.T) {
	spec := map[string]any{
		"peers":  []any{map[string]any{"peerASN": int64(65000)}},
		"timers": map[string]any{"keepAliveTimeSeconds": int64(10), "holdTimeSeconds": int64(30)},
		"name":   "x",
	}
	if got := strings.Join(firstNumber(spec, []string{"spec"}), "."); got != "spec.timers.holdTimeSeconds" {
		t.Errorf("got %q", got)
	}
	if got := firstNumber(map[string]any{"a": "b"}, []string{"spec"}); got != nil {
		t.Errorf("no number: got %v", got)
	}
}
