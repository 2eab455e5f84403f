package kuberouter

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

func testRun(masq, bgp bool) config.Run {
	r := config.Default()
	r.CNI.Name = Name
	r.BGP = config.BGP{Enabled: bgp, RouterASN: 64600, NodeASN: 64700, RouterAddress: "10.80.0.200"}
	r.Network.Masquerade = masq
	r.Network.ServiceCIDR = "10.97.0.0/16"
	return r
}

// render renders the project's chart with the profile's values for run.
func render(t *testing.T, run config.Run) []*unstructured.Unstructured {
	t.Helper()
	ch, err := chart.LoadPath(filepath.Join("..", "..", "..", ChartDir))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := chart.Render(context.Background(), ch, Profile{}.Values(run),
		chart.RenderOptions{ReleaseName: ReleaseName, Namespace: Namespace, KubeVersion: "v1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// agentArgs returns the kube-router container's arguments and the pod spec.
func agentArgs(t *testing.T, objs []*unstructured.Unstructured) ([]string, map[string]any) {
	t.Helper()
	ds := cni.Find(objs, "DaemonSet", "kube-router")
	if ds == nil {
		t.Fatal("no kube-router DaemonSet rendered")
	}
	spec, _ := cni.PodSpec(ds)
	cs, _, _ := unstructured.NestedSlice(spec, "containers")
	for _, c := range cs {
		m := c.(map[string]any)
		if m["name"] == "kube-router" {
			args, _, _ := unstructured.NestedStringSlice(m, "args")
			if m["image"] != Image() || m["imagePullPolicy"] != "Never" {
				t.Errorf("agent image %v (pull %v), want %s never pulled", m["image"], m["imagePullPolicy"], Image())
			}
			return args, spec
		}
	}
	t.Fatal("no kube-router container")
	return nil, nil
}

func TestChartRendersRunMasqueradeAndBGP(t *testing.T) {
	args, spec := agentArgs(t, render(t, testRun(false, true)))
	for _, want := range []string{
		"--enable-pod-egress=false", "--cluster-asn=64700", "--peer-router-ips=10.80.0.200",
		"--peer-router-asns=64600", "--advertise-pod-cidr=true", "--enable-cni=true",
		"--run-service-proxy=false", "--service-cluster-ip-range=10.97.0.0/16",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("agent args lack %s: %v", want, args)
		}
	}
	if !cni.RequiresHybridNodes(spec) {
		t.Errorf("agents are not confined to hybrid nodes: %v", spec["affinity"])
	}
	if spec["hostNetwork"] != true {
		t.Error("agents must run in the host network namespace")
	}

	args, _ = agentArgs(t, render(t, testRun(true, false)))
	if !slices.Contains(args, "--enable-pod-egress=true") || !slices.Contains(args, "--cluster-asn=64700") {
		t.Errorf("masquerade on, BGP off (nodes' iBGP mesh kept) not rendered: %v", args)
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--peer-router") {
			t.Errorf("BGP off still peers: %s", a)
		}
	}
}

func TestChartHasRBACAndCNIConfig(t *testing.T) {
	objs := render(t, testRun(true, true))
	for _, k := range [][2]string{{"ServiceAccount", "kube-router"}, {"ClusterRole", "kube-router"},
		{"ClusterRoleBinding", "kube-router"}, {"ConfigMap", "kube-router-cfg"}} {
		if cni.Find(objs, k[0], k[1]) == nil {
			t.Errorf("no %s %s rendered", k[0], k[1])
		}
	}
	cm := cni.Find(objs, "ConfigMap", "kube-router-cfg")
	conf, _, _ := unstructured.NestedString(cm.Object, "data", "cni-conf.json")
	for _, want := range []string{`"type": "bridge"`, `"type": "host-local"`, `"type": "portmap"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("CNI config lacks %s:\n%s", want, conf)
		}
	}
}

func TestChartRejectsBGPWithoutPeers(t *testing.T) {
	ch, err := chart.LoadPath(filepath.Join("..", "..", "..", ChartDir))
	if err != nil {
		t.Fatal(err)
	}
	v := Profile{}.Values(testRun(true, true))
	v["bgp"].(map[string]any)["peers"] = []any{}
	_, err = chart.Render(context.Background(), ch, v, chart.RenderOptions{ReleaseName: ReleaseName, Namespace: Namespace, KubeVersion: "v1.37.2"})
	if err == nil || !strings.Contains(err.Error(), "bgp.peers is empty") {
		t.Fatalf("err = %v, want one saying bgp.peers is empty", err)
	}
}

func TestVersionMatchesToolsModuleAndChart(t *testing.T) {
	for file, want := range map[string]string{
		"../../../tools/kube-router/go.mod":    "github.com/cloudnativelabs/kube-router/v2 " + Version,
		"../../../" + ChartDir + "/Chart.yaml": "appVersion: " + Version,
	} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), want) {
			t.Errorf("%s does not say %q: change Version, the tools module and the chart together", file, want)
		}
	}
}
