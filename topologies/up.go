package topologies

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/progress"
	"github.com/hybridcni/hybridcni/framework/router"
)

// ImageBin is where our images keep the hybridcni binary.
const ImageBin = "/hybridcni"

// RouterAPIPort is the port of the router container's GoBGP gRPC API, served
// on all its addresses so the host reaches it at the router address.
const RouterAPIPort = 50051

// RouterHoldTime is the router's own BGP hold time.
const RouterHoldTime = 90 * time.Second

// Ports of the on-prem host's echo server (`hybridcni echo`).
const (
	OnPremHTTPPort = 8080
	OnPremUDPPort  = 9000
)

// Images are the images a topology runs.
type Images struct {
	Router string `json:"router,omitempty"`
	Echo   string `json:"echo,omitempty"`
	// Node is the kind node image; empty: the one pinned for the run's
	// Kubernetes version.
	Node string `json:"node,omitempty"`
}

// Spec is what Up builds.
type Spec struct {
	Run      config.Run
	Topology Topology
	// Name is the infrastructure name (network, cluster, container prefix);
	// default UniqueName(Run.Name).
	Name   string
	Images Images
	// Cluster creates the kind cluster; false builds the Docker side only
	// (network, router, on-prem host).
	Cluster bool
	// CgroupV1 lets the kubelet run on a cgroup v1 host.
	CgroupV1 bool
	// StateDir holds the run's ledger and kubeconfig (StateDir/NAME/...);
	// empty keeps the ledger in memory (no `hybridcni down` from another process).
	StateDir string
	// NodesBooted, when set, is called once, as soon as every node of the
	// kind cluster runs containerd, while kind goes on to start Kubernetes
	// (about 30 s): images loaded from then on are in before the cluster
	// is. It must not block; the nodes have no Kubernetes role yet. When
	// Up succeeds it has been called.
	NodesBooted func(cluster string, nodes []Node)
}

// EnvInfo is what a created topology offers the suites; `hybridcni up` prints it.
type EnvInfo struct {
	Name       string     `json:"name"`
	Network    string     `json:"network"`
	NodeCIDR   string     `json:"nodeCIDR"`
	PodCIDR    string     `json:"podCIDR"`
	Router     netip.Addr `json:"router,omitzero"`
	RouterAPI  string     `json:"routerAPI,omitempty"`
	RouterASN  int64      `json:"routerASN"`
	NodeASN    int64      `json:"nodeASN"`
	OnPremHost netip.Addr `json:"onPremHost,omitzero"`
	// OnPremHTTP is the on-prem host's echo HTTP port (/clientip).
	OnPremHTTP int `json:"onPremHTTP,omitempty"`
	// RoutesPodCIDRs says whether the control plane routes pod CIDRs
	// through the router (EKS remote pod network).
	RoutesPodCIDRs bool   `json:"routesPodCIDRs"`
	Kubeconfig     string `json:"kubeconfig,omitempty"`
	Nodes          []Node `json:"nodes,omitempty"`
	// Container names.
	RouterContainer string `json:"routerContainer,omitempty"`
	HostContainer   string `json:"hostContainer,omitempty"`
}

// Step names, in the order Up runs them.
const (
	StepNetwork          = "network"
	StepRouter           = "router"
	StepOnPremHost       = "onprem-host"
	StepCluster          = "cluster"
	StepRemotePodNetwork = "remote-pod-network"
)

// Option adjusts Up and Down.
type Option func(*options)

type options struct {
	logf      func(string, ...any)
	afterStep func(step string)
	abort     <-chan struct{}
	now       func() time.Time
}

// WithLogf receives progress lines.
func WithLogf(logf func(string, ...any)) Option { return func(o *options) { o.logf = logf } }

// WithAfterStep is called after each step Up completes.
func WithAfterStep(fn func(step string)) Option { return func(o *options) { o.afterStep = fn } }

// WithAbort stops a teardown when the channel closes (a second signal):
// what is left is reported in a *LeftBehindError.
func WithAbort(ch <-chan struct{}) Option { return func(o *options) { o.abort = ch } }

func buildOptions(opts []Option) options {
	o := options{logf: func(string, ...any) {}, afterStep: func(string) {}, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// TeardownTimeout bounds a teardown after a failure or an interrupt.
const TeardownTimeout = 5 * time.Minute

// Env is a created topology.
type Env struct {
	EnvInfo
	Ledger *Ledger

	dc      *docker.Client
	o       options
	pending chan error // a kind creation still running after an interrupt
}

// Up creates the topology. Input is checked and images are looked for
// before anything is created. On failure or interrupt (ctx cancelled) Up
// removes what it created, in reverse order, and returns the cause; when
// that teardown cannot finish (WithAbort), the error is a *LeftBehindError.
// The returned Env is nil on failure.
func Up(ctx context.Context, dc *docker.Client, s Spec, opts ...Option) (*Env, error) {
	o := buildOptions(opts)
	e, err := prepare(ctx, dc, s, o)
	if err != nil {
		return nil, err
	}
	if err := e.up(ctx, s); err != nil {
		if terr := e.teardown(ctx); terr != nil {
			return nil, terr
		}
		o.logf("removed everything this run created")
		return nil, err
	}
	return e, nil
}

// prepare checks everything it can before creating anything.
func prepare(ctx context.Context, dc *docker.Client, s Spec, o options) (*Env, error) {
	if err := s.Run.Validate(); err != nil {
		return nil, err
	}
	if err := s.Topology.Validate(); err != nil {
		return nil, err
	}
	addrs, err := PlanAddresses(s.Run)
	if err != nil {
		return nil, err
	}
	if s.Name == "" {
		s.Name = UniqueName(s.Run.Name)
	}
	if !strings.HasPrefix(s.Name, NamePrefix) || len(s.Name) > maxClusterName {
		return nil, config.Invalid("name", fmt.Sprintf("%q must start with %q and be at most %d characters", s.Name, NamePrefix, maxClusterName),
			"leave the name empty for a unique one")
	}
	if s.Cluster && s.Images.Node == "" {
		if s.Images.Node, err = NodeImage(s.Run.Kubernetes.Version); err != nil {
			return nil, err
		}
	}
	if s.Cluster && s.StateDir == "" {
		return nil, config.Invalid("stateDir", "is empty but a cluster needs a kubeconfig file", "set a state directory (--state-dir)")
	}
	var need []string
	if s.Topology.Router {
		need = append(need, s.Images.Router)
	}
	if s.Topology.OnPremHost {
		need = append(need, s.Images.Echo)
	}
	if s.Cluster {
		need = append(need, s.Images.Node)
	}
	for _, img := range need {
		if img == "" {
			return nil, config.Invalid("images", "an image the topology needs is not named", "build the harness images (`hybridcni images build`) or pass them")
		}
		ok, err := dc.ImageExists(ctx, img)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("image %s is not present in the local Docker engine: %s", img, imageFix(img))
		}
	}
	if clash, err := dc.NetworkOverlapping(ctx, addrs.NodeCIDR); err != nil {
		return nil, err
	} else if clash != "" {
		return nil, config.Invalid("network.nodeCIDR", fmt.Sprintf("%s overlaps the Docker network %q", addrs.NodeCIDR, clash),
			fmt.Sprintf("pick another node CIDR, or remove %q (`docker network rm %s`, or `hybridcni gc` if it is a leftover of ours)", clash, clash))
	}
	var path string
	if s.StateDir != "" {
		path = filepath.Join(s.StateDir, s.Name, "ledger.json")
	}
	l, err := NewLedger(s.Name, path)
	if err != nil {
		return nil, err
	}
	e := &Env{Ledger: l, dc: dc, o: o}
	e.Name = s.Name
	e.Network = s.Name
	e.NodeCIDR = addrs.NodeCIDR.String()
	e.PodCIDR = s.Run.Network.PodCIDR
	e.RouterASN, e.NodeASN = s.Run.BGP.RouterASN, s.Run.BGP.NodeASN
	e.RoutesPodCIDRs = s.Topology.RoutesPodCIDRs(s.Run)
	if s.Topology.Router {
		e.Router = addrs.Router
		e.RouterContainer = s.Name + "-router"
		e.RouterAPI = netip.AddrPortFrom(addrs.Router, RouterAPIPort).String()
	}
	if s.Topology.OnPremHost {
		e.OnPremHost = addrs.OnPremHost
		e.HostContainer = s.Name + "-onprem"
		e.OnPremHTTP = OnPremHTTPPort
	}
	if s.Cluster {
		e.Kubeconfig = filepath.Join(s.StateDir, s.Name, "kubeconfig")
	}
	return e, nil
}

func imageFix(img string) string {
	if strings.HasPrefix(img, "hybridcni/") {
		return "build it with `hybridcni images build` (no registry needed)"
	}
	return "pull it where a registry answers and bring it here with `hybridcni images save` / `hybridcni images load`, or `docker load`"
}

func (e *Env) step(ctx context.Context, name string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted before %s: %w", name, err)
	}
	start := time.Now()
	if err := fn(); err != nil {
		if ctx.Err() != nil {
			if errors.Is(err, ctx.Err()) {
				return fmt.Errorf("interrupted during %s: %w", name, err)
			}
			return fmt.Errorf("interrupted during %s: %w (%v)", name, ctx.Err(), err)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	e.o.logf("%s ready (%s)", name, time.Since(start).Round(time.Millisecond))
	e.o.afterStep(name)
	return nil
}

func (e *Env) up(ctx context.Context, s Spec) error {
	addrs, _ := PlanAddresses(s.Run)
	pod := netip.MustParsePrefix(s.Run.Network.PodCIDR)
	labels := func(role string) map[string]string {
		l := ObjectLabels(e.Name, e.o.now())
		l[LabelRole] = role
		return l
	}
	if err := e.step(ctx, StepNetwork, func() error {
		if err := e.Ledger.Record(ObjNetwork, e.Network); err != nil {
			return err
		}
		_, err := e.dc.CreateNetwork(ctx, docker.Network{Name: e.Network, Subnet: addrs.NodeCIDR, Gateway: addrs.Gateway,
			IPRange: addrs.NodePool, Labels: labels("node-network")})
		return err
	}); err != nil {
		return err
	}
	if s.Topology.Router {
		if err := e.step(ctx, StepRouter, func() error { return e.startRouter(ctx, s, pod, labels("router")) }); err != nil {
			return err
		}
	}
	if s.Topology.OnPremHost {
		if err := e.step(ctx, StepOnPremHost, func() error { return e.startOnPremHost(ctx, s, pod, labels("onprem-host")) }); err != nil {
			return err
		}
	}
	if s.Cluster {
		if err := e.step(ctx, StepCluster, func() error { return e.createCluster(ctx, s) }); err != nil {
			return err
		}
		if err := e.step(ctx, StepRemotePodNetwork, func() error { return e.remotePodNetwork(ctx, pod) }); err != nil {
			return err
		}
	}
	return e.Ledger.SetEnv(&e.EnvInfo)
}

func (e *Env) startRouter(ctx context.Context, s Spec, pod netip.Prefix, labels map[string]string) error {
	if err := e.Ledger.Record(ObjContainer, e.RouterContainer); err != nil {
		return err
	}
	_, err := e.dc.RunContainer(ctx, docker.Container{
		Name:       e.RouterContainer,
		Image:      s.Images.Router,
		Entrypoint: []string{ImageBin},
		Cmd: []string{"router",
			"--asn", strconv.FormatInt(s.Run.BGP.RouterASN, 10),
			"--router-id", e.Router.String(),
			"--listen-address", e.Router.String(),
			"--neighbor-prefix", e.NodeCIDR,
			"--neighbor-asn", strconv.FormatInt(s.Run.BGP.NodeASN, 10),
			"--api-address", netip.AddrPortFrom(netip.IPv4Unspecified(), RouterAPIPort).String(),
			"--install-routes",
			"--connect-retry", "2s",
			// Above the guide's 30 s: the negotiated hold time is the
			// smaller one, so it shows the node's (bgp/parameters).
			"--hold-time", RouterHoldTime.String(),
		},
		Network: e.Network,
		IP:      e.Router,
		CapAdd:  []string{"NET_ADMIN"},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Labels:  labels,
	})
	if err != nil {
		return err
	}
	if err := e.inContainer(ctx, e.RouterContainer, func(c *ContainerNet) error {
		if err := c.NoRedirects("eth0"); err != nil {
			return err
		}
		// Pod addresses nobody advertises are refused here, never sent
		// along the default route off the machine.
		return c.Unreachable(pod)
	}); err != nil {
		return err
	}
	return e.waitRouterAPI(ctx)
}

// waitRouterAPI waits until the router's API port accepts connections,
// then until its gRPC API answers (bounded). Dialling gRPC only once the
// port listens spares gRPC's reconnect backoff.
func (e *Env) waitRouterAPI(ctx context.Context) error {
	return waitRouter(ctx, e.RouterContainer, e.RouterAPI, e.o.logf, func(ctx context.Context) (bool, string) {
		if _, err := e.dc.ContainerPID(ctx, e.RouterContainer); err == nil {
			return true, ""
		}
		logs, _ := e.dc.Logs(context.WithoutCancel(ctx), e.RouterContainer)
		return false, logs
	})
}

// routerStartLimit bounds the router's start (its API port, then BGP).
const routerStartLimit = 30 * time.Second

// waitRouter is waitRouterAPI on the router at api; alive says whether its
// container still runs (and, when not, its output). While it waits, logf
// gets a line every few seconds naming the router, its API and what it
// still waits for (framework/progress).
func waitRouter(ctx context.Context, name, api string, logf func(string, ...any), alive func(context.Context) (bool, string)) error {
	pw := progress.Start(progress.LogfWriter(logf), fmt.Sprintf("router %s to start (BGP API %s)", name, api), progress.Limit(routerStartLimit))
	defer pw.Done()
	failed := func(what string, err error) error {
		_, logs := alive(ctx)
		return fmt.Errorf("router API %s %s (%v); router output:\n%s", api, what, err, tail(logs, 20))
	}
	deadline := time.Now().Add(routerStartLimit)
	for {
		c, err := net.DialTimeout("tcp", api, time.Second)
		if err == nil {
			c.Close()
			break
		}
		pw.Update("the API port to listen: " + err.Error())
		if ok, _ := alive(ctx); !ok || time.Now().After(deadline) || ctx.Err() != nil {
			return failed("does not listen", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	cl, err := router.Dial(api)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		// GoBGP answers its API before BGP starts; wait for BGP.
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		started, err := cl.Started(pctx)
		cancel()
		if started {
			return nil
		}
		if err == nil {
			err = errors.New("BGP not started yet")
		}
		pw.Update("BGP behind the API: " + err.Error())
		if ok, _ := alive(ctx); !ok || time.Now().After(deadline) || ctx.Err() != nil {
			return failed("did not answer", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (e *Env) startOnPremHost(ctx context.Context, s Spec, pod netip.Prefix, labels map[string]string) error {
	if err := e.Ledger.Record(ObjContainer, e.HostContainer); err != nil {
		return err
	}
	_, err := e.dc.RunContainer(ctx, docker.Container{
		Name:       e.HostContainer,
		Image:      s.Images.Echo,
		Entrypoint: []string{ImageBin},
		Cmd:        []string{"echo", "--http-port", strconv.Itoa(OnPremHTTPPort), "--udp-port", strconv.Itoa(OnPremUDPPort)},
		Network:    e.Network,
		IP:         e.OnPremHost,
		// The echo's UDP receive buffer past net.core.rmem_max: a busy
		// host answers the meter late rather than drop its probes.
		CapAdd: []string{"NET_ADMIN"},
		Labels: labels,
	})
	if err != nil {
		return err
	}
	if err := e.inContainer(ctx, e.HostContainer, func(c *ContainerNet) error {
		if err := c.NoRedirects("eth0"); err != nil {
			return err
		}
		if s.Topology.Router {
			// The on-prem network reaches pod CIDRs through the router.
			return c.RouteVia(pod, e.Router, netip.Addr{})
		}
		return c.Unreachable(pod)
	}); err != nil {
		return err
	}
	return e.waitLog(ctx, e.HostContainer, "listening")
}

// waitLog polls a container's output for a line containing prefix.
func (e *Env) waitLog(ctx context.Context, name, prefix string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		logs, err := e.dc.Logs(ctx, name)
		if err == nil {
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, prefix) {
					return nil
				}
			}
		}
		if _, perr := e.dc.ContainerPID(ctx, name); perr != nil || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not print %q: %v; output:\n%s", name, prefix, perr, tail(logs, 20))
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (e *Env) inContainer(ctx context.Context, name string, fn func(*ContainerNet) error) error {
	pid, err := e.dc.ContainerPID(ctx, name)
	if err != nil {
		return err
	}
	c, err := OpenContainerNet(name, pid)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

func (e *Env) createCluster(ctx context.Context, s Spec) error {
	opts := []KindOption{WithNodeImage(s.Images.Node), WithCgroupV1(s.CgroupV1)}
	cfg, err := KindConfig(s.Run, e.Name, opts...)
	if err != nil {
		return err
	}
	if err := e.Ledger.Record(ObjCluster, e.Name); err != nil {
		return err
	}
	booted := func([]Node) {}
	if s.NodesBooted != nil {
		// Called once, and never after this returns (a failed creation's
		// nodes are going).
		var mu sync.Mutex
		fired := false
		booted = func(ns []Node) {
			mu.Lock()
			defer mu.Unlock()
			if !fired {
				fired = true
				s.NodesBooted(e.Name, ns)
			}
		}
		defer func() { mu.Lock(); fired = true; mu.Unlock() }()
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			if ns, err := nodesBooted(wctx, e.Name, len(cfg.Nodes), s.Run.Nodes.Cloud); err == nil {
				booted(ns)
			}
		}()
	}
	done := make(chan error, 1)
	go func() { done <- createKindCluster(cfg, e.Network, e.Kubeconfig, e.o.logf) }()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		// kind cannot be cancelled: teardown deletes the nodes, waits for
		// the creation to give up, and deletes again.
		e.pending = done
		return ctx.Err()
	}
	if e.Nodes, err = kindNodes(e.Name, s.Run.Nodes.Cloud, e.o.logf); err != nil {
		return err
	}
	booted(e.Nodes) // when the watch missed the boot
	return nil
}

// remotePodNetwork routes the pod CIDR from the cloud side (control plane,
// cloud workers) through the router when the run makes pod CIDRs routable
// (EKS remote pod network); otherwise the cloud side refuses pod addresses,
// as a VPC without the route would, without sending anything off the machine.
func (e *Env) remotePodNetwork(ctx context.Context, pod netip.Prefix) error {
	for _, n := range e.Nodes {
		if n.Hybrid {
			continue
		}
		err := e.inContainer(ctx, n.Name, func(c *ContainerNet) error {
			if e.RoutesPodCIDRs {
				return c.RouteVia(pod, e.Router, netip.Addr{})
			}
			return c.Unreachable(pod)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Down removes the topology, newest object first; with nothing left, its
// kubeconfig and state directory go too.
func (e *Env) Down(ctx context.Context) error {
	err := e.Ledger.Teardown(ctx, e.remove)
	e.forgetState()
	return err
}

// forgetState removes the kubeconfig and the (then empty) state directory
// once nothing of the run is left.
func (e *Env) forgetState() {
	if len(e.Ledger.Left()) > 0 || e.Ledger.Path() == "" {
		return
	}
	if e.Kubeconfig != "" {
		os.Remove(e.Kubeconfig)
	}
	os.Remove(filepath.Dir(e.Ledger.Path()))
}

// Undo removes the topology after ctx was cancelled (an interrupt right
// after Up returned): like a failed Up, it ignores ctx's cancellation, stops
// only on WithAbort, and reports what is left in a *LeftBehindError.
func (e *Env) Undo(ctx context.Context) error { return e.teardown(ctx) }

func (e *Env) teardown(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), TeardownTimeout)
	defer cancel()
	if e.o.abort != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-e.o.abort:
				cancel()
			case <-stop:
			}
		}()
	}
	err := e.Down(tctx)
	e.forgetState()
	if left := e.Ledger.Left(); len(left) > 0 {
		cause := err
		if ctx.Err() != nil {
			cause = errors.Join(ctx.Err(), err)
		}
		return &LeftBehindError{Run: e.Name, Left: left, Cause: cause}
	}
	return nil
}

func (e *Env) remove(ctx context.Context, x Entry) error {
	start := time.Now()
	var err error
	switch x.Kind {
	case ObjContainer:
		err = e.dc.RemoveContainer(ctx, x.Name)
	case ObjNetwork:
		err = e.dc.RemoveNetwork(ctx, x.Name)
	case ObjCluster:
		err = deleteKindCluster(x.Name, e.Kubeconfig, e.o.logf)
		if e.pending != nil && err == nil {
			select {
			case <-e.pending:
				e.pending = nil
			case <-ctx.Done():
				return ctx.Err()
			}
			err = deleteKindCluster(x.Name, e.Kubeconfig, e.o.logf)
		}
	default:
		err = fmt.Errorf("unknown kind %q", x.Kind)
	}
	if err == nil {
		e.o.logf("removed %s (%s)", x, time.Since(start).Round(time.Millisecond))
	}
	return err
}

// Down removes what a ledger written by an earlier `hybridcni up` lists.
func Down(ctx context.Context, dc *docker.Client, l *Ledger, opts ...Option) error {
	e := &Env{Ledger: l, dc: dc, o: buildOptions(opts)}
	e.Name = l.Run
	if l.Env != nil {
		e.EnvInfo = *l.Env
	} else if l.Path() != "" {
		e.Kubeconfig = filepath.Join(filepath.Dir(l.Path()), "kubeconfig")
	}
	return e.teardown(ctx)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
