package cilium

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

func testRun() config.Run {
	r := config.Default()
	r.BGP = config.BGP{Enabled: true, RouterASN: 64600, NodeASN: 64700, RouterAddress: "10.80.0.200"}
	r.Network.PodCIDR, r.Network.BlockSize, r.Network.Masquerade = "10.90.0.0/16", 24, false
	r.Complete()
	return r
}

func get(t *testing.T, obj map[string]any, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(obj, path...)
	if !ok || err != nil {
		t.Fatalf("no %v in %v", path, obj)
	}
	return v
}

func TestValuesFollowTheRun(t *testing.T) {
	run := testRun()
	v := New().Values(run)
	want := map[string]any{
		"ipam.mode": "cluster-pool",
		"ipam.operator.clusterPoolIPv4PodCIDRList": []any{"10.90.0.0/16"},
		"ipam.operator.clusterPoolIPv4MaskSize":    24,
		"operator.unmanagedPodWatcher.restart":     false,
		"envoy.enabled":                            false,
		"routingMode":                              "tunnel",
		"tunnelProtocol":                           "vxlan",
		"enableIPv4Masquerade":                     false,
		"bgpControlPlane.enabled":                  true,
		"affinity":                                 cni.HybridNodeAffinity(),
		"operator.affinity":                        cni.HybridNodeAffinity(),
	}
	for path, w := range want {
		if got := get(t, v, strings.Split(path, ".")...); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	run.Network.Masquerade, run.BGP.Enabled = true, false
	v = New().Values(run)
	if get(t, v, "enableIPv4Masquerade") != true || get(t, v, "bgpControlPlane", "enabled") != false {
		t.Errorf("masquerade/BGP do not follow the run: %v", v)
	}
}

func TestBGPResourcesAsTheGuideGivesThem(t *testing.T) {
	run := testRun()
	objs := New().BGPResources(run)
	if len(objs) != 3 {
		t.Fatalf("%d resources, want 3", len(objs))
	}
	for _, o := range objs {
		if o.GetAPIVersion() != DefaultBGPAPIVersion {
			t.Errorf("%s apiVersion %s, want %s", o.GetKind(), o.GetAPIVersion(), DefaultBGPAPIVersion)
		}
		// Unstructured content must be JSON-clean (DeepCopy panics otherwise).
		_ = o.DeepCopy()
	}
	cc := cni.Find(objs, "CiliumBGPClusterConfig", "cilium-bgp")
	pc := cni.Find(objs, "CiliumBGPPeerConfig", "cilium-peer")
	ad := cni.Find(objs, "CiliumBGPAdvertisement", "bgp-advertisements")
	if cc == nil || pc == nil || ad == nil {
		t.Fatalf("missing resources: %v", objs)
	}
	sel := get(t, cc.Object, "spec", "nodeSelector", "matchExpressions").([]any)[0].(map[string]any)
	if sel["key"] != cni.HybridLabel || sel["operator"] != "In" || !reflect.DeepEqual(sel["values"], []any{"hybrid"}) {
		t.Errorf("cluster config node selector = %v", sel)
	}
	inst := get(t, cc.Object, "spec", "bgpInstances").([]any)[0].(map[string]any)
	peer := inst["peers"].([]any)[0].(map[string]any)
	if inst["name"] != "rack0" || inst["localASN"] != int64(64700) {
		t.Errorf("instance = %v, want rack0 with localASN = node ASN 64700", inst)
	}
	if peer["name"] != "onprem-router" || peer["peerASN"] != int64(64600) || peer["peerAddress"] != "10.80.0.200" ||
		!reflect.DeepEqual(peer["peerConfigRef"], map[string]any{"name": "cilium-peer"}) {
		t.Errorf("peer = %v, want the router (ASN 64600 at 10.80.0.200) using cilium-peer", peer)
	}
	if get(t, pc.Object, "spec", "timers", "holdTimeSeconds") != int64(30) ||
		get(t, pc.Object, "spec", "timers", "keepAliveTimeSeconds") != int64(10) ||
		get(t, pc.Object, "spec", "gracefulRestart", "enabled") != true ||
		get(t, pc.Object, "spec", "gracefulRestart", "restartTimeSeconds") != int64(120) {
		t.Errorf("peer config timers/graceful restart = %v", pc.Object["spec"])
	}
	fam := get(t, pc.Object, "spec", "families").([]any)[0].(map[string]any)
	if fam["afi"] != "ipv4" || fam["safi"] != "unicast" ||
		!reflect.DeepEqual(fam["advertisements"], map[string]any{"matchLabels": map[string]any{"advertise": "bgp"}}) {
		t.Errorf("family = %v", fam)
	}
	if ad.GetLabels()["advertise"] != "bgp" {
		t.Errorf("advertisement labels = %v; the peer config selects advertise=bgp", ad.GetLabels())
	}
	advs := get(t, ad.Object, "spec", "advertisements").([]any)
	if advs[0].(map[string]any)["advertisementType"] != "PodCIDR" || advs[1].(map[string]any)["advertisementType"] != "Service" ||
		!reflect.DeepEqual(get(t, advs[1].(map[string]any), "service", "addresses"), []any{"ClusterIP", "ExternalIP", "LoadBalancerIP"}) {
		t.Errorf("advertisements = %v", advs)
	}

	for _, o := range New(WithBGPAPIVersion("cilium.io/v2")).BGPResources(run) {
		if o.GetAPIVersion() != "cilium.io/v2" {
			t.Errorf("%s apiVersion %s, want the one asked for", o.GetKind(), o.GetAPIVersion())
		}
	}
}

func TestCheckRenderedFailsOnMissingObjects(t *testing.T) {
	err := CheckRendered(nil, testRun())
	for _, want := range []string{"DaemonSet cilium: not rendered", "Deployment cilium-operator: not rendered", "cilium-config: not rendered"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestReleasePreflightValues(t *testing.T) {
	aff := cni.HybridNodeAffinity()
	release := map[string]any{
		"affinity":  aff,
		"ipam":      map[string]any{"mode": "cluster-pool"},
		"preflight": map[string]any{"image": map[string]any{"repository": "mirror.example/cilium"}, "enabled": false},
	}
	got := ReleasePreflightValues(release)
	if get(t, got, "preflight", "enabled") != true || get(t, got, "agent") != false || get(t, got, "operator", "enabled") != false {
		t.Errorf("the guide's switches do not win: %v", got)
	}
	if get(t, got, "preflight", "image", "repository") != "mirror.example/cilium" {
		t.Errorf("the release's own preflight.image is lost: %v", got)
	}
	if !reflect.DeepEqual(get(t, got, "preflight", "affinity"), aff) {
		t.Errorf("the pre-flight does not follow the agent's affinity: %v", got)
	}
	if _, leaked := got["ipam"]; leaked {
		t.Errorf("values other than preflight.* reach the pre-flight release: %v", got)
	}
	own := map[string]any{"nodeAffinity": "mine"}
	release["preflight"] = map[string]any{"affinity": own}
	if a := get(t, ReleasePreflightValues(release), "preflight", "affinity"); !reflect.DeepEqual(a, own) {
		t.Errorf("preflight.affinity set by the user was replaced: %v", a)
	}
}
