package calico

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
	r.CNI.Name = config.Calico
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
	inst := get(t, v, "installation").(map[string]any)
	want := map[string]any{
		"enabled":                  true,
		"cni.type":                 "Calico",
		"cni.ipam.type":            "Calico",
		"calicoNetwork.bgp":        "Enabled",
		"controlPlaneReplicas":     1,
		"controlPlaneNodeSelector": cni.HybridNodeSelector(),
	}
	for _, c := range HybridComponents {
		want[c+".spec.template.spec.nodeSelector"] = cni.HybridNodeSelector()
	}
	for path, w := range want {
		if got := get(t, inst, strings.Split(path, ".")...); !reflect.DeepEqual(got, w) {
			t.Errorf("installation.%s = %#v, want %#v", path, got, w)
		}
	}
	pools := get(t, inst, "calicoNetwork", "ipPools").([]any)
	wantPool := map[string]any{"cidr": "10.90.0.0/16", "blockSize": 24, "encapsulation": "VXLAN", "natOutgoing": "Disabled",
		"nodeSelector": `eks.amazonaws.com/compute-type == "hybrid"`}
	if len(pools) != 1 || !reflect.DeepEqual(pools[0], wantPool) {
		t.Errorf("ipPools = %v, want [%v]", pools, wantPool)
	}
	run.Network.Masquerade, run.BGP.Enabled = true, false
	inst = get(t, New().Values(run), "installation").(map[string]any)
	if get(t, inst, "calicoNetwork", "bgp") != "Disabled" ||
		get(t, inst, "calicoNetwork", "ipPools").([]any)[0].(map[string]any)["natOutgoing"] != "Enabled" {
		t.Errorf("natOutgoing/BGP do not follow the run: %v", inst["calicoNetwork"])
	}
}

func TestBGPResourcesAsTheGuideGivesThem(t *testing.T) {
	objs := New().BGPResources(testRun())
	if len(objs) != 2 {
		t.Fatalf("%d resources, want 2", len(objs))
	}
	peer := cni.Find(objs, "BGPPeer", "calico-hybrid-nodes")
	conf := cni.Find(objs, "BGPConfiguration", "default")
	if peer == nil || conf == nil {
		t.Fatalf("missing resources: %v", objs)
	}
	for _, o := range objs {
		if o.GetAPIVersion() != "projectcalico.org/v3" {
			t.Errorf("%s apiVersion = %s", o.GetKind(), o.GetAPIVersion())
		}
		_ = o.DeepCopy()
	}
	// BGPPeer.asNumber is the router's ASN, BGPConfiguration.asNumber the nodes'.
	wantPeer := map[string]any{"peerIP": "10.80.0.200", "asNumber": int64(64600), "keepOriginalNextHop": true}
	wantConf := map[string]any{"nodeToNodeMeshEnabled": false, "asNumber": int64(64700)}
	if !reflect.DeepEqual(peer.Object["spec"], wantPeer) {
		t.Errorf("BGPPeer spec = %v, want %v", peer.Object["spec"], wantPeer)
	}
	if !reflect.DeepEqual(conf.Object["spec"], wantConf) {
		t.Errorf("BGPConfiguration spec = %v, want %v", conf.Object["spec"], wantConf)
	}
}

func TestCheckRenderedFailsOnMissingObjects(t *testing.T) {
	err := CheckRendered(nil, testRun())
	for _, want := range []string{"Deployment tigera-operator: not rendered", "Installation default: not rendered"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}
