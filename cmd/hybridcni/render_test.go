package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/calico"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/config"
)

var renderChecks = map[string]func([]*unstructured.Unstructured, config.Run) error{
	config.Cilium: cilium.CheckRendered,
	config.Calico: calico.CheckRendered,
}

func run(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = execute(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// `hybridcni render` for every chart version in the shared source, both CNIs,
// BGP on/off and masquerading on/off: the stream parses, the chart objects
// match the run, and the BGP resources close the stream exactly when BGP is on.
func TestRenderEveryChartVersion(t *testing.T) {
	dir := charttest.Dir(t)
	src, err := chart.NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The CNIs whose real charts are in the shared source (kube-router's
	// own chart is rendered by its package's tests).
	for _, name := range []string{config.Cilium, config.Calico} {
		p, err := cni.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := src.Versions(context.Background(), p.ChartName())
		if err != nil || len(vs) == 0 {
			t.Fatalf("%s versions in %s: %v %v", p.ChartName(), dir, vs, err)
		}
		for _, v := range vs {
			for _, bgp := range []bool{false, true} {
				for _, masq := range []bool{true, false} {
					t.Run(fmt.Sprintf("%s/%s/bgp=%t,masquerade=%t", name, v, bgp, masq), func(t *testing.T) {
						args := []string{"render", "--cni", name, "--version", v, "--chart-repo", dir,
							"--pod-cidr", "10.120.0.0/16", "--block-size", "27", "--router-asn", "64512", "--node-asn", "64513",
							fmt.Sprintf("--bgp=%t", bgp), fmt.Sprintf("--masquerade=%t", masq), "--allow-unroutable-pods"}
						code, out, errOut := run(t, args...)
						if code != exitOK {
							t.Fatalf("exit %d: %s", code, errOut)
						}
						objs, err := chart.Decode(strings.NewReader(out))
						if err != nil {
							t.Fatal(err)
						}
						want := config.Default()
						want.CNI = config.CNI{Name: name, Version: v, ChartSource: dir}
						want.Network.PodCIDR, want.Network.BlockSize, want.Network.Masquerade = "10.120.0.0/16", 27, masq
						want.BGP.Enabled, want.BGP.RouterASN, want.BGP.NodeASN = bgp, 64512, 64513
						want.Complete()

						bgpObjs := p.BGPResources(want)
						tail := objs[max(0, len(objs)-len(bgpObjs)):]
						for i, o := range bgpObjs {
							got := tail[i]
							same := got.GetKind() == o.GetKind() && got.GetName() == o.GetName()
							if same != bgp {
								t.Errorf("BGP %t: object %d from the end is %s %s", bgp, len(bgpObjs)-i, got.GetKind(), got.GetName())
							}
							if bgp && same && fmt.Sprint(got.Object["spec"]) != fmt.Sprint(o.Object["spec"]) {
								t.Errorf("%s %s spec %v, want %v", o.GetKind(), o.GetName(), got.Object["spec"], o.Object["spec"])
							}
						}
						if err := renderChecks[name](objs, want); err != nil {
							t.Errorf("rendered objects do not match the run:\n%v", err)
						}
					})
				}
			}
		}
	}
}

func TestRenderFromARunFileWithValuesFiles(t *testing.T) {
	dir := charttest.Dir(t)
	tmp := t.TempDir()
	values := filepath.Join(tmp, "extra.yaml")
	os.WriteFile(values, []byte("envoy:\n  enabled: true\n"), 0o644)
	file := filepath.Join(tmp, "run.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf("cni:\n  name: cilium\n  chartSource: %s\n  valuesFiles: [%s]\nbgp:\n  enabled: true\n", dir, values)), 0o644)

	code, out, errOut := run(t, "render", "-f", file)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	objs, err := chart.Decode(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if cni.Find(objs, "CiliumBGPClusterConfig", "cilium-bgp") == nil {
		t.Error("bgp.enabled from the file did not add the BGP resources")
	}
	if cni.Find(objs, "DaemonSet", "cilium-envoy") == nil {
		t.Error("the values file was not merged last: no cilium-envoy DaemonSet")
	}
	// A flag overrides the file, and --values adds another file after it.
	off := filepath.Join(tmp, "off.yaml")
	os.WriteFile(off, []byte("envoy:\n  enabled: false\n"), 0o644)
	code, out, errOut = run(t, "render", "-f", file, "--bgp=false", "--values", off)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	objs, _ = chart.Decode(strings.NewReader(out))
	if cni.Find(objs, "CiliumBGPClusterConfig", "cilium-bgp") != nil || cni.Find(objs, "DaemonSet", "cilium-envoy") != nil {
		t.Error("--bgp=false or --values did not override the run file")
	}
}

// Invalid input exits 2 and names the field, before anything is fetched or rendered.
func TestRenderInvalidInputExits2(t *testing.T) {
	dir := charttest.Dir(t)
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name  string
		args  []string
		field string
	}{
		{"unknown CNI", []string{"--cni", "flannel"}, "cni.name"},
		{"version not in source", []string{"--version", "1.16.999"}, "cni.version"},
		{"calico version not in source", []string{"--cni", "calico", "--version", "3.29.999"}, "cni.version"},
		{"chart source missing", []string{"--chart-repo", missing}, "cni.chartSource"},
		{"pod CIDR overlaps node CIDR", []string{"--pod-cidr", "10.80.0.0/16"}, "network.podCIDR"},
		{"block size too small", []string{"--block-size", "30"}, "network.blockSize"},
		{"masquerade off without BGP", []string{"--masquerade=false"}, "network.masquerade"},
		{"reserved router ASN", []string{"--router-asn", "23456"}, "bgp.routerASN"},
		{"node ASN out of range", []string{"--node-asn", "4294967296"}, "bgp.nodeASN"},
		{"router outside node CIDR", []string{"--router-address", "192.0.2.1"}, "bgp.routerAddress"},
		{"Helm's default Kubernetes", []string{"--kubernetes-version", "1.20.0"}, "kubernetes.version"},
		{"not a Kubernetes version", []string{"--kubernetes-version", "latest"}, "kubernetes.version"},
		{"missing values file", []string{"--values", missing}, "cni.valuesFiles[0]"},
		{"no hybrid nodes", []string{"--hybrid-nodes", "0"}, "nodes.hybrid"},
		{"missing run file", []string{"-f", missing}, "file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"render", "--chart-repo", dir}, c.args...)
			code, out, errOut := run(t, args...)
			if code != exitInvalid || !strings.Contains(errOut, c.field) {
				t.Fatalf("exit %d, stderr %q: want exit 2 naming %s", code, errOut, c.field)
			}
			if out != "" {
				t.Errorf("invalid input still printed %d bytes", len(out))
			}
		})
	}
	// The message also names the flag that set the field and the nearest versions.
	_, _, errOut := run(t, "render", "--chart-repo", dir, "--version", "1.16.999")
	if !strings.Contains(errOut, "nearest available") {
		t.Errorf("stderr %q does not list the nearest versions", errOut)
	}
	_, _, errOut = run(t, "render", "--pod-cidr", "10.80.0.0/16")
	if !strings.Contains(errOut, "--pod-cidr") {
		t.Errorf("stderr %q does not name the flag", errOut)
	}
	if code, _, _ := run(t, "render", "--no-such-flag"); code != exitInvalid {
		t.Errorf("unknown flag exits %d, want 2", code)
	}
	if code, _, _ := run(t, "render", "extra-arg"); code != exitInvalid {
		t.Errorf("unexpected argument exits %d, want 2", code)
	}
}

func TestRenderUnreachableRepositoryExits1(t *testing.T) {
	code, out, errOut := run(t, "render", "--chart-repo", "http://127.0.0.1:1/charts")
	if code != exitFailure || out != "" || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("exit %d, stdout %d bytes, stderr %q: want exit 1 naming the repository", code, len(out), errOut)
	}
}
