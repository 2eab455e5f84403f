package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/checks"
	_ "github.com/hybridcni/hybridcni/framework/cni/all" // the CNIs' facts
	"github.com/hybridcni/hybridcni/framework/config"
)

// Every catalogue check is broken by a fault or listed as a known gap,
// never both; every fault names catalogue checks it can reach.
func TestEveryCheckCoveredOrAGap(t *testing.T) {
	covered := Covered()
	for _, c := range checks.Catalogue() {
		fs, gap := covered[c.Name()], Gaps[c.Name()]
		switch {
		case len(fs) == 0 && gap == "":
			t.Errorf("check %s: no fault breaks it and it is not listed in Gaps", c.Name())
		case len(fs) > 0 && gap != "":
			t.Errorf("check %s: broken by %v but still listed in Gaps: drop it from Gaps", c.Name(), fs)
		}
	}
	for name := range Gaps {
		if _, ok := checks.Lookup(name); !ok {
			t.Errorf("Gaps lists %q, not a catalogue check", name)
		}
	}
	t.Logf("%d of %d checks broken by a fault; %d known gaps", len(covered), len(checks.Catalogue()), len(Gaps))
}

func TestCatalogueDeclarations(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Catalogue() {
		if seen[f.Name()] {
			t.Errorf("fault %s declared twice", f.Name())
		}
		seen[f.Name()] = true
		if f.Description() == "" || f.inject == nil || len(f.BreaksChecks()) == 0 {
			t.Errorf("fault %s: needs a doc, an injector and the checks it breaks", f.Name())
		}
		cs, err := f.Checks()
		if err != nil {
			t.Error(err)
			continue
		}
		for _, c := range cs {
			// The fault is injected after a stage its checks run in, or
			// after install for a check that compares with the install
			// (the fault phase judges it against the install's snapshot).
			if c.Stages()&f.Stage() == 0 && !JudgedSinceInstall(c, f.Stage()) {
				t.Errorf("fault %s is injected after %s, but check %s runs in %s", f.Name(), f.Stage(), c.Name(), c.Stages())
			}
			// A check that needs a capability the fault does not need would
			// skip where the fault is injected: declare it on the fault too.
			for _, need := range c.Capabilities() {
				if !contains(f.Capabilities(), need) {
					t.Errorf("fault %s breaks %s, which needs %s: the fault must need it too", f.Name(), c.Name(), need)
				}
			}
		}
		if got, ok := Lookup(f.Name()); !ok || got != f {
			t.Errorf("Lookup(%s)", f.Name())
		}
	}
}

func contains(cs []checks.Capability, c checks.Capability) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

func TestBuilder(t *testing.T) {
	called := false
	f := New("x").Doc("d").Breaks("placement").Needs(checks.NodeShell).When(checks.BGPOn).After(checks.AfterDelete).
		Injects(func(context.Context, Target) (Heal, []string, error) { called = true; return nil, []string{"n"}, nil })
	if f.Name() != "x" || f.Description() != "d" || f.Stage() != checks.AfterDelete || f.Label() != "x" {
		t.Errorf("builder: %+v", f)
	}
	if got := f.Conditions(); len(got) != 1 || got[0] != "bgp on" {
		t.Errorf("conditions %v", got)
	}
	r := config.Default()
	r.BGP.Enabled = false
	if why := f.Applies(checks.Subject{Run: r}); !strings.Contains(why, "BGP is off") {
		t.Errorf("applies: %q", why)
	}
	if _, names, err := f.Inject(context.Background(), nil); err != nil || !called || names[0] != "n" {
		t.Errorf("inject: %v %v", names, err)
	}
	if _, _, err := New("y").Inject(context.Background(), nil); err == nil {
		t.Error("a fault without an injector injects")
	}
	if _, err := New("z").Breaks("no-such-check").Checks(); err == nil {
		t.Error("a fault breaking an unknown check is accepted")
	}
	if !IsNotApplicable(NotApplicable("x")) || IsNotApplicable(context.Canceled) {
		t.Error("IsNotApplicable")
	}
}

// For places faults by stage and says why one does not apply.
func TestFor(t *testing.T) {
	r := config.Default()
	r.CNI.Name = config.Cilium
	r.Nodes.Hybrid = 2
	r.BGP.Enabled = false
	s := checks.SubjectOf(r)
	byName := map[string]Entry{}
	for _, e := range For(s, checks.AfterInstall) {
		byName[e.Fault.Name()] = e
	}
	if _, ok := byName["crd-recreated"]; ok {
		t.Error("crd-recreated placed after install; it belongs after delete")
	}
	if e := byName["bgp-session-reset"]; !strings.Contains(e.Skip, "BGP is off") {
		t.Errorf("bgp-session-reset with BGP off: skip %q", e.Skip)
	}
	if e := byName["routed-pod-traffic-dropped"]; !strings.Contains(e.Skip, "overlay") {
		t.Errorf("routed fault on cilium (overlay): skip %q", e.Skip)
	}
	if e := byName["vxlan-port-dropped"]; e.Skip != "" {
		t.Errorf("vxlan fault on cilium with 2 hybrid nodes: skip %q", e.Skip)
	}
	del := For(s, checks.AfterDelete)
	if len(del) != 2 {
		t.Errorf("faults after delete: %d, want 2 (crd-recreated, cni-file-left)", len(del))
	}
}

func TestListing(t *testing.T) {
	var js bytes.Buffer
	if err := WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Faults    []Listing         `json:"faults"`
		Uncovered map[string]string `json:"uncovered"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Faults) != len(Catalogue()) || len(got.Uncovered) != len(Gaps) {
		t.Errorf("json: %d faults, %d gaps", len(got.Faults), len(got.Uncovered))
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	_ = WriteMarkdown(&b, []Outcome{
		{Run: "r", Fault: "f", Check: "placement", Caught: "yes", Healed: "passed", Detect: "3s", Bound: "15s (floor)", Inject: "1.2s", Heal: "14s", Message: "cloud node x | y\nline2"},
		{Run: "r", Fault: "g", Check: "ipam", Caught: "no", Healed: "failed", Detect: "30s", Message: "x"},
		{Run: "r", Fault: "h", Check: "bgp/withdrawal", Caught: "yes", Healed: "passed", Detect: "15s", Message: "service s deleted\n" +
			"Expected success, but got an error:\n    <*router.CheckError | 0x29ff0743e070>: \n" +
			"    node n (10.0.0.3): 10.96.0.1/32 still advertised\n    {\n        Check: \"bgp\",\n    }"},
	})
	for _, want := range []string{"| r | f | placement | yes | 1.2s | 3s | 15s (floor) | passed | 14s | cloud node x \\| y<br>line2 |",
		"| r | g | ipam | no | - | 30s | - | failed | - | x |",
		// Gomega's frame gives way to what the check said.
		"| r | h | bgp/withdrawal | yes | - | 15s | - | passed | - | service s deleted<br>    node n (10.0.0.3): 10.96.0.1/32 still advertised |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}

// The iptables rules a fault adds carry the fault comment, so heal
// deletes exactly them.
func TestRuleCommands(t *testing.T) {
	r := rule{"n", []string{"raw", "PREROUTING", "-d", "10.0.0.0/24", "-j", "DROP"}}
	got := strings.Join(r.cmd("-I"), " ")
	if got != "iptables -w -t raw -I PREROUTING -m comment --comment hybridcni-fault -d 10.0.0.0/24 -j DROP" {
		t.Errorf("%s", got)
	}
}
