package cilium

import (
	"reflect"
	"testing"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// The guide's Service advertisement goes out as written (no selector), and
// the fix adds a match-all selector to it alone, leaving the guide's objects
// as they were.
func TestServiceAdvertisementAsWrittenAndItsFix(t *testing.T) {
	run := testRun()
	p := New()
	guide := p.BGPResources(run)
	advs := get(t, cni.Find(guide, "CiliumBGPAdvertisement", AdvertisementName).Object, "spec", "advertisements").([]any)
	if _, ok := advs[1].(map[string]any)["selector"]; ok {
		t.Errorf("the guide's Service advertisement has a selector: %v", advs[1])
	}
	fixed, fix := p.ServiceAdvertisementFix(run)
	if fix == "" {
		t.Error("the fix says nothing")
	}
	fadvs := get(t, cni.Find(fixed, "CiliumBGPAdvertisement", AdvertisementName).Object, "spec", "advertisements").([]any)
	if _, ok := fadvs[0].(map[string]any)["selector"]; ok {
		t.Errorf("the fix touched the PodCIDR advertisement: %v", fadvs[0])
	}
	sel, ok := fadvs[1].(map[string]any)["selector"].(map[string]any)
	if !ok || len(sel["matchExpressions"].([]any)) != 1 || sel["matchExpressions"].([]any)[0].(map[string]any)["operator"] != "NotIn" {
		t.Errorf("the fixed Service advertisement's selector = %v, want one NotIn expression (matches every service)", fadvs[1])
	}
	if !reflect.DeepEqual(p.BGPResources(run), guide) {
		t.Error("the fix changed the guide's objects")
	}
	for _, o := range fixed {
		_ = o.DeepCopy() // JSON-clean
	}
	if lb := p.LoadBalancerPool(run); len(lb) != 1 || lb[0].GetKind() != "CiliumLoadBalancerIPPool" ||
		!reflect.DeepEqual(get(t, lb[0].Object, "spec", "blocks"), []any{map[string]any{"cidr": cni.LoadBalancerPoolCIDR}}) {
		t.Errorf("LoadBalancer pool = %v, want one CiliumLoadBalancerIPPool block %s", lb, cni.LoadBalancerPoolCIDR)
	}
}
