package cloudcni

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ReadyFile is where the agent marks its first complete sync (inside its
// own container; `hybridcni cloud-cni --ready` reads it).
const ReadyFile = "/tmp/hybridcni-cloud-cni.ready"

// hostPath is the PATH the host's commands are found in.
const hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Agent keeps its node's plan in place: the CNI configuration, the
// masquerade rule and the routes to the other cloud workers' blocks.
type Agent struct {
	Kube kubernetes.Interface
	Node string
	// HostRoot is the host's root filesystem as the pod sees it (hostPID:
	// /proc/1/root); configuration is written and iptables run there.
	HostRoot string
	Every    time.Duration
	Logf     func(string, ...any)
}

// Run syncs until ctx ends; the first complete sync writes ReadyFile.
func (a *Agent) Run(ctx context.Context) error {
	if a.Every == 0 {
		a.Every = 5 * time.Second
	}
	ready := false
	var lastErr string
	for {
		err := a.Sync(ctx)
		switch {
		case err != nil && err.Error() != lastErr:
			a.Logf("sync: %v", err)
			lastErr = err.Error()
		case err == nil && !ready:
			if werr := os.WriteFile(ReadyFile, []byte("ready\n"), 0o644); werr != nil {
				return werr
			}
			ready, lastErr = true, ""
			a.Logf("node %s synced", a.Node)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.Every):
		}
	}
}

// Sync applies the node's plan once.
func (a *Agent) Sync(ctx context.Context) error {
	nodes, err := a.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	p, err := PlanFor(a.Node, nodes.Items)
	if err != nil {
		return err
	}
	if p.Idle != "" {
		return nil
	}
	if p.Conf != nil {
		if err := a.writeConf(p.Conf); err != nil {
			return err
		}
		rule := MasqueradeRule(p.Block)
		if a.iptables("-C", rule) != nil {
			if err := a.iptables("-A", rule); err != nil {
				return err
			}
			a.Logf("masquerading %s to destinations outside %s", p.Block, PodCIDR)
		}
	}
	for _, r := range p.Routes {
		dst := &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)}
		if err := netlink.RouteReplace(&netlink.Route{Dst: dst, Gw: r.Via.AsSlice()}); err != nil {
			return fmt.Errorf("route %s via %s (node %s): %w", r.Dst, r.Via, r.Node, err)
		}
	}
	return nil
}

func (a *Agent) writeConf(conf []byte) error {
	path := filepath.Join(a.HostRoot, ConfFile)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, conf) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, conf, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	a.Logf("wrote %s", ConfFile)
	return nil
}

// iptables runs the host's iptables: op (-C, -A) goes between the table
// and the chain of rule ("-t", TABLE, CHAIN, match...).
func (a *Agent) iptables(op string, rule []string) error {
	args := append([]string{"-w", rule[0], rule[1], op}, rule[2:]...)
	cmd := exec.Command("/usr/sbin/iptables", args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + hostPath}
	if a.HostRoot != "" && a.HostRoot != "/" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: a.HostRoot}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
