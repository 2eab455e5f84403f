package plan_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/cni/calico"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/plan"
)

func run(cniName, version, upgradeTo string, bgp bool) config.Run {
	r := config.Default()
	r.CNI = config.CNI{Name: cniName, Version: version, UpgradeTo: upgradeTo}
	r.BGP.Enabled = bgp
	r.Complete()
	return r
}

func phases(p *plan.Plan) []string {
	out := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = s.Phase
	}
	return slices.Compact(out)
}

func text(t *testing.T, p *plan.Plan) string {
	t.Helper()
	var b strings.Builder
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCiliumUpgradePlan(t *testing.T) {
	p, err := plan.Build(run(config.Cilium, "1.16.18", "1.17.18", true), cilium.New(), cilium1617)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.UpgradePath, []string{"1.16.19", "1.17.18"}) {
		t.Fatalf("upgrade path %v", p.UpgradePath)
	}
	// Checks after install, after each hop, after rollback and after delete.
	want := []string{plan.PhaseTopology, plan.PhaseCheck, plan.PhaseInstall, plan.PhaseCheck,
		plan.PhaseRollback, plan.PhaseUpgrade, plan.PhaseCheck,
		plan.PhaseRollback, plan.PhaseUpgrade, plan.PhaseCheck,
		plan.PhaseRollback, plan.PhaseCheck, plan.PhaseDelete, plan.PhaseCleanup, plan.PhaseCheck, plan.PhaseCleanup}
	if got := phases(p); !slices.Equal(got, want) {
		t.Errorf("phases %v, want %v", got, want)
	}
	out := text(t, p)
	for _, s := range []string{
		"hop 1: pre-flight for 1.16.19", "hop 2: pre-flight for 1.17.18",
		"upgradeCompatibility=1.16", "preflight.enabled=true, agent=false, operator.enabled=false",
		"CiliumBGPClusterConfig cilium-bgp", "helm rollback cilium", "helm uninstall cilium -n kube-system",
		"CRD whose name contains cilium", "bgp: a session from every hybrid node to the router",
		"checks upgrade-2 (cilium 1.17.18)", "checks rollback (cilium 1.16.18)",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("plan text lacks %q:\n%s", s, out)
		}
	}
	// Pre-flight comes before the upgrade of the same hop.
	if strings.Index(out, "hop 1: pre-flight") > strings.Index(out, "hop 1: upgrade to") {
		t.Error("pre-flight after the upgrade")
	}
}

var cilium1617 = []string{"1.16.18", "1.16.19", "1.17.18"}

func TestCalicoUpgradePlanAppliesCRDsFirst(t *testing.T) {
	p, err := plan.Build(run(config.Calico, "3.29.6", "3.30.7", false), calico.New(), []string{"v3.29.6", "v3.29.7", "v3.30.7"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "v3.29.6" || !slices.Equal(p.UpgradePath, []string{"v3.29.7", "v3.30.7"}) {
		t.Fatalf("version %s, path %v", p.Version, p.UpgradePath)
	}
	out := text(t, p)
	crds := strings.Index(out, "hop 2: operator CRDs of v3.30.7")
	up := strings.Index(out, "hop 2: upgrade to v3.30.7")
	if crds < 0 || up < 0 || crds > up {
		t.Errorf("CRDs at %d, upgrade at %d:\n%s", crds, up, out)
	}
	for _, s := range []string{"force-conflicts", "calico or tigera", "/opt/cni and /etc/cni", "natOutgoing on"} {
		if !strings.Contains(out, s) {
			t.Errorf("plan text lacks %q", s)
		}
	}
	if strings.Contains(out, "BGP resources") || strings.Contains(out, "pre-flight") {
		t.Errorf("BGP off / Calico plan mentions BGP resources or a Cilium pre-flight:\n%s", out)
	}
}

func TestPlanWithoutUpgrade(t *testing.T) {
	p, err := plan.Build(run(config.Cilium, "1.16.19", "", false), cilium.New(), cilium1617)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(phases(p), plan.PhaseUpgrade) || slices.Contains(phases(p), plan.PhaseRollback) || p.UpgradePath != nil {
		t.Errorf("plan without upgradeTo has upgrade steps: %v", phases(p))
	}
}

func TestPlanRejectsMissingVersions(t *testing.T) {
	_, err := plan.Build(run(config.Cilium, "1.16.20", "", false), cilium.New(), cilium1617)
	if !slices.Contains(config.Fields(err), "cni.version") || !strings.Contains(err.Error(), "1.16.19") {
		t.Errorf("missing version: %v", err)
	}
	_, err = plan.Build(run(config.Cilium, "1.16.19", "1.18.0", false), cilium.New(), cilium1617)
	if !slices.Contains(config.Fields(err), "cni.upgradeTo") {
		t.Errorf("missing target: %v", err)
	}
}
