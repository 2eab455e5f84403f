package router

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// birdWith runs BIRD 1.6 in the node's namespace exporting its block (and
// extra prefixes, e.g. service addresses), with the session options given
// (timers, graceful restart) verbatim.
func (b *bgpLab) birdWith(n *labNode, asn uint32, options string, extra ...string) {
	b.t.Helper()
	if _, err := os.Stat("/usr/sbin/bird"); err != nil {
		b.t.Skip("lab tier: BIRD not installed (Debian package bird)")
	}
	conf := filepath.Join(b.dir, n.Name+"-bird.conf")
	routes := "route " + n.block + " blackhole;"
	for _, p := range extra {
		routes += " route " + p + " blackhole;"
	}
	text := fmt.Sprintf(`router id %[1]s;
protocol device { scan time 10; }
protocol static pods { %[2]s }
protocol bgp onprem {
  local %[1]s as %[3]d;
  neighbor %[4]s as %[5]d;
  import none;
  export where proto = "pods";
  connect retry time 1; startup hold time 1;
  %[6]s
}
`, n.Address, routes, asn, labRouterIP, routerASN, options)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		b.t.Fatal(err)
	}
	sock := filepath.Join(b.dir, n.Name+"-bird.ctl")
	p := b.startLogged(n.ns, n.Name+"-bird", exec.Command("/usr/sbin/bird", "-f", "-c", conf, "-s", sock))
	b.waitFile(sock, p)
}

// The guide's session parameters read on the router from real BIRD 1.6
// speakers: one configured as the guide says (hold 30 s, keepalive 10 s,
// graceful restart 120 s) passes; one with BIRD's defaults for the timers
// (hold 240 s, keepalive 80 s) and no graceful restart, in another AS,
// fails on each of them, naming node and parameter (its keepalive is not
// measured then); one with the guide's OPEN and a 3 s keepalive fails on
// that. The router's own hold time (300 s) is above them all, so
// negotiation shows the node's.
func TestLabPeerParameters(t *testing.T) {
	b := newBGPLab(t, func(c *Config) { c.HoldTime = 300 * time.Second; c.Keepalive = 100 * time.Second })
	ctx := context.Background()
	right := b.addNode("worker", "10.80.0.21", "10.85.21.0/24")
	wrong := b.addNode("wrong", "10.80.0.22", "10.85.22.0/24")
	b.birdWith(right, 65010, "hold time 30; keepalive time 10; graceful restart on; graceful restart time 120;")
	b.birdWith(wrong, 65011, "graceful restart off;")
	// Its OPEN as the guide says, its KEEPALIVEs every 3 s.
	eager := b.addNode("eager", "10.80.0.23", "10.85.23.0/24")
	b.birdWith(eager, 65010, "hold time 30; keepalive time 3; graceful restart on; graceful restart time 120;")
	want := GuidePeerParams(65010)

	var wg sync.WaitGroup
	var errRight, errBoth, errEager error
	wg.Add(3)
	go func() { defer wg.Done(); errRight = b.k.PeerParameters(ctx, right.Node, want) }()
	go func() { defer wg.Done(); errBoth = b.k.PeerParametersAll(ctx, []Node{right.Node, wrong.Node}, want) }()
	go func() { defer wg.Done(); errEager = b.k.PeerParameters(ctx, eager.Node, want) }()
	wg.Wait()
	if errRight != nil {
		t.Errorf("BIRD configured as the guide says: %v", errRight)
	}
	if strings.Contains(fmt.Sprint(errBoth), "node worker") {
		t.Errorf("the right node is named among the failures: %v", errBoth)
	}
	errWrong := errBoth
	mustContain(t, errWrong,
		"node wrong (10.80.0.22): AS 65011 in its OPEN, want AS 65010",
		"node wrong (10.80.0.22): hold time 240 s negotiated, want 30 s",
		"node wrong (10.80.0.22): graceful restart not announced in its OPEN, want it with restart time 120 s",
		"node wrong (10.80.0.22): keepalive not measured (its OPEN fails the check already)")
	t.Logf("the wrongly configured BIRD, as reported:\n%v", errWrong)
	mustContain(t, errEager, "node eager (10.80.0.23): keepalive every 3 s measured", "want 10 s")
	if strings.Contains(fmt.Sprint(errEager), "hold time") {
		t.Errorf("the eager node's OPEN is right, yet named: %v", errEager)
	}
	if got, err := b.k.PeerParamsOf(ctx, right.Node); err == nil {
		t.Logf("worker as the router sees it: %+v", got)
	}
}
