// Package kind provides the suites' real environment: a kind cluster whose
// workers are hybrid nodes on a Docker network standing in for the on-prem
// node network, the on-prem router and an on-prem host (topologies.Up).
package kind

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
	"github.com/hybridcni/hybridcni/framework/cloudcni"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/diagnostics"
	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/framework/router"
	"github.com/hybridcni/hybridcni/suites"
	"github.com/hybridcni/hybridcni/topologies"
	"github.com/hybridcni/hybridcni/topologies/doctor"
)

// Name is the provider's name on the command line (--provider kind).
const Name = "kind"

func init() {
	suites.RegisterProvider(Name, func(o suites.Options) suites.Provider {
		return &provider{opts: o, envs: map[*suites.Env]*running{}, needed: map[string][]topologies.Image{}}
	})
}

type running struct {
	topo   *topologies.Env
	router *router.Client
	// loader loads the upgrade hops' images in the background (nil
	// without hops); teardown stops it before the cluster goes.
	loader *imageLoader
	// stateDir is where the loader writes its archives.
	stateDir string
}

type provider struct {
	opts suites.Options
	dc   *docker.Client
	topo topologies.Topology

	mu   sync.Mutex
	envs map[*suites.Env]*running
	// needed holds each run's images as Prepare rendered them, so the
	// charts are rendered (and an https index fetched) once per run.
	needed map[string][]topologies.Image
}

// runKey identifies a run by its whole configuration (names need not be unique).
func runKey(r config.Run) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func (p *provider) Name() string { return Name }

func (p *provider) images(r config.Run) (topologies.Images, error) {
	routerRef, echoRef := image.HarnessRefs(buildinfo.Version)
	im := topologies.Images{Router: routerRef, Echo: echoRef, Node: p.opts.NodeImage}
	if im.Node == "" {
		var err error
		if im.Node, err = topologies.NodeImage(r.Kubernetes.Version); err != nil {
			return im, err
		}
	}
	return im, nil
}

// Validate judges the options before anything is created: the topology
// loads, and a run with BGP on has a router to peer with (its BGP checks
// would otherwise skip, and a matrix would show BGP as passed).
func (p *provider) Validate(o suites.Options) error {
	topo, err := topologies.Load(o.Topology)
	if err != nil {
		return err
	}
	for _, r := range o.Runs {
		if r.BGP.Enabled && !topo.Router {
			return config.Invalid("bgp.enabled", fmt.Sprintf("run %s has BGP on, but topology %s has no on-prem router", r.Name, topo.Name),
				"use a topology with router: true (e.g. default), or set bgp.enabled: false")
		}
	}
	return nil
}

// Prepare checks the machine (doctor's blockers stop the run before anything
// is created) and builds the router and echo images.
func (p *provider) Prepare(ctx context.Context) error {
	topo, err := topologies.Load(p.opts.Topology)
	if err != nil {
		return err
	}
	p.topo = topo
	dc, dcErr := image.Engine(ctx)
	p.dc = dc
	for _, r := range p.opts.Runs {
		im, err := p.images(r)
		if err != nil {
			return err
		}
		// The charts load and render before anything is created: an
		// unreachable chart source or a missing version stops here, and the
		// CNI images they name are checked with the node image.
		needed, err := topologies.RunImages(ctx, r, im)
		if err != nil {
			return fmt.Errorf("nothing created: %w", err)
		}
		p.mu.Lock()
		p.needed[runKey(r)] = needed
		p.mu.Unlock()
		o := doctor.Options{DockerErr: dcErr, Cluster: true, Nodes: 1 + r.Nodes.Hybrid + r.Nodes.Cloud,
			NodeImage: im.Node, Offline: doctor.OfflineFromEnv(),
			Buildable: func(ref string) bool { return ref == im.Router || ref == im.Echo }}
		for _, n := range needed {
			if n.For != "kind node" {
				o.Images = append(o.Images, n.Ref)
			}
		}
		if dc != nil {
			o.Docker = dc
			o.LocalNodeImages = topologies.LocalNodeImages(dc)
		}
		if err := doctor.Run(ctx, o).Err(); err != nil {
			return fmt.Errorf("nothing created: %w", err)
		}
	}
	if dc == nil {
		return dcErr
	}
	_, err = image.BuildHarness(ctx, dc, "", buildinfo.Version, func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
	return err
}

// Provision brings the topology up: network, router, on-prem host, the kind
// cluster (hybrid nodes NotReady, no CNI) and the echo image on its nodes.
//
// The images are saved while the network and router come up, and load from
// the moment the nodes boot, while kind starts Kubernetes on them (about
// 30 s): the echo image into every node, then the install version's into
// the hybrid nodes, then the upgrade hops' (loadSteps). Loaded after the
// cluster, the echo image held the first check 11 s and Cilium's images the
// install 22 s.
func (p *provider) Provision(ctx context.Context, run config.Run, resultsDir string) (*suites.Env, error) {
	im, err := p.images(run)
	if err != nil {
		return nil, err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "kind provider: "+f+"\n", a...) }
	install, later, err := p.splitRunImages(ctx, run, im)
	if err != nil {
		return nil, err
	}
	stateDir := filepath.Join(resultsDir, "state")
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	echo := p.saveImages(ctx, filepath.Join(stateDir, "images-echo.tar"), []string{im.Echo})
	var ahead *savedImages
	if len(install) > 0 {
		ahead = p.saveImages(ctx, filepath.Join(stateDir, archiveName(run.CNI.Version)), install)
	}
	ready, steps := loadSteps(run.CNI.Version, echo, ahead, later)
	var (
		mu     sync.Mutex
		loader *imageLoader
	)
	booted := func(cluster string, nodes []topologies.Node) {
		mu.Lock()
		defer mu.Unlock()
		loader = startImageLoader(ready, steps, p.loadStep(run, cluster, hybridNames(nodes), stateDir))
	}
	te, err := topologies.Up(ctx, p.dc, topologies.Spec{
		Run: run, Topology: p.topo, Images: im, Cluster: true,
		CgroupV1: doctor.CgroupV1(""), StateDir: stateDir, NodesBooted: booted,
	}, topologies.WithLogf(logf))
	mu.Lock()
	rn := &running{topo: te, loader: loader}
	mu.Unlock()
	if err != nil {
		stopLoader(context.WithoutCancel(ctx), rn)
		for _, s := range steps {
			s.saved.discard()
		}
		return nil, err
	}
	rn.stateDir = filepath.Join(stateDir, te.Name)
	env, err := p.describe(ctx, run, te, im, resultsDir, rn)
	if err != nil {
		stopLoader(context.WithoutCancel(ctx), rn)
		_ = te.Down(context.WithoutCancel(ctx))
		return nil, err
	}
	p.mu.Lock()
	p.envs[env] = rn
	p.mu.Unlock()
	return env, nil
}

func hybridNames(nodes []topologies.Node) []string {
	var out []string
	for _, n := range nodes {
		if n.Hybrid {
			out = append(out, n.Name)
		}
	}
	return out
}

// describe waits for the echo image and gives the cloud side its CNI.
func (p *provider) describe(ctx context.Context, run config.Run, te *topologies.Env, im topologies.Images, resultsDir string,
	rn *running) (_ *suites.Env, err error) {
	if rn.loader == nil {
		return nil, fmt.Errorf("cluster %s is up, but its nodes' boot was never reported (topologies.Spec.NodesBooted), so no image was loaded", te.Name)
	}
	if err := rn.loader.Wait(ctx, harnessStep); err != nil {
		return nil, err
	}
	rest, err := clientcmd.BuildConfigFromFlags("", te.Kubeconfig)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return nil, err
	}
	env := &suites.Env{
		Run: run, Provider: Name, Kubeconfig: te.Kubeconfig, REST: rest, Kube: kube,
		EchoImage: im.Echo, PodsRoutable: te.RoutesPodCIDRs, ResultsDir: resultsDir,
		// Our own cluster: the probe pods may hold CAP_NET_ADMIN.
		ProbeNetAdmin: true,
		Lacking:       map[suites.Capability]string{},
	}
	env.ImagesReady = rn.loader.Wait
	for _, n := range te.Nodes {
		env.Nodes = append(env.Nodes, suites.Node{Name: n.Name, Address: n.IP.String(), Hybrid: n.Hybrid})
	}
	dc := p.dc
	env.NodeExec = func(ctx context.Context, node string, argv ...string) (string, error) {
		res, err := dc.Exec(ctx, node, argv)
		if err != nil {
			return "", err
		}
		if res.ExitCode != 0 {
			return res.Stdout, fmt.Errorf("%s on %s exited %d: %s", strings.Join(argv, " "), node, res.ExitCode, strings.TrimSpace(res.Stderr))
		}
		return res.Stdout, nil
	}
	if run.Nodes.Cloud > 0 {
		if err := cloudSide(ctx, kube, im.Echo, te); err != nil {
			return nil, err
		}
	} else {
		env.Lacking[suites.CloudCNI] = "the run has no cloud worker, so no cloud CNI is deployed (--cloud-nodes)"
	}
	if te.RouterAPI != "" {
		if rn.router, err = router.Dial(te.RouterAPI); err != nil {
			return nil, fmt.Errorf("router API %s: %w", te.RouterAPI, err)
		}
		env.Router = rn.router
	} else {
		env.Lacking[suites.Router] = "the topology has no on-prem router"
	}
	if te.HostContainer != "" {
		env.OnPrem = &probe.Source{Place: probe.InContainer(dc, te.HostContainer), Name: "on-prem-host", IP: te.OnPremHost.String()}
		env.OnPremHTTPPort, env.OnPremUDPPort = topologies.OnPremHTTPPort, topologies.OnPremUDPPort
	} else {
		env.Lacking[suites.OnPremHost] = "the topology has no on-prem host"
	}
	env.Diagnostics = []diagnostics.Source{
		diagnostics.SourceFunc{N: "kind", F: func(_ context.Context, dir string) error {
			return kindcluster.NewProvider(kindcluster.ProviderWithDocker()).CollectLogs(te.Name, dir)
		}},
		diagnostics.SourceFunc{N: "router", F: func(ctx context.Context, dir string) error { return routerState(ctx, rn.router, dir) }},
		diagnostics.SourceFunc{N: "containers", F: func(ctx context.Context, dir string) error {
			for _, c := range []string{te.RouterContainer, te.HostContainer} {
				if c == "" {
					continue
				}
				logs, err := dc.Logs(ctx, c)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, c+".log"), []byte(logs), 0o644); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	return env, nil
}

// harnessStep is the loader's first step: the echo image (the harness's,
// which the cloud CNI runs on every node, the control plane too), into
// every node.
const harnessStep = "the harness"

// loadStep loads one step of the loader into the cluster: the echo image
// into every node; a CNI version's images (the chart's, present in the local
// engine, so runs work with no registry) into the hybrid nodes only, where
// its pods run: a node holds an image twice (layers and unpacked files), and
// a chain's five Cilium versions cost about 11 GB a node (loaded into the
// cloud node too, they took a third more time and disk for nothing). The
// nodes pull images not present locally.
func (p *provider) loadStep(run config.Run, cluster string, hybrid []string, stateDir string) func(context.Context, versionImages) error {
	toHybrid := topologies.LoadImageArchiveTo(hybrid)
	return func(ctx context.Context, v versionImages) error {
		switch {
		case v.version == harnessStep:
			return p.loadArchive(ctx, cluster, v.saved, "saved while the cluster formed, loaded from when its nodes booted", topologies.LoadImageArchive)
		case v.saved != nil:
			return p.loadArchive(ctx, cluster, v.saved, fmt.Sprintf("%s %s, saved while the cluster formed, loaded from when its nodes booted", run.CNI.Name, v.version), toHybrid)
		case len(v.refs) == 0:
			return nil // none local: the nodes pull them
		}
		return p.loadArchive(ctx, cluster, p.saveImages(ctx, filepath.Join(stateDir, cluster, archiveName(v.version)), v.refs),
			fmt.Sprintf("%s %s, in the background", run.CNI.Name, v.version), toHybrid)
	}
}

// loadSteps orders the loads: the echo image (echo, which the cloud side
// waits for), the install version's images (ahead, when any is local),
// then every hop's in one archive (the versions share most layers: the
// chain 1.17.0 -> 1.20.2 took 4.7 GB in four archives, and a hop waits for
// all of them anyway, as the meter must not measure the loading). ready:
// the install version when it loads nothing.
func loadSteps(install string, echo, ahead *savedImages, later []versionImages) (ready []string, steps []versionImages) {
	steps = append(steps, versionImages{version: harnessStep, refs: echo.refs, saved: echo})
	if ahead != nil {
		steps = append(steps, versionImages{version: install, refs: ahead.refs, saved: ahead})
	} else {
		ready = []string{install}
	}
	if len(later) > 0 {
		steps = append(steps, laterBatch(later))
	}
	return ready, steps
}

// splitRunImages is splitImages for the run's images (the chart's, at each
// version).
func (p *provider) splitRunImages(ctx context.Context, run config.Run, im topologies.Images) (install []string, later []versionImages, err error) {
	p.mu.Lock()
	needed, ok := p.needed[runKey(run)]
	p.mu.Unlock()
	if !ok {
		if needed, err = topologies.RunImages(ctx, run, im); err != nil {
			return nil, nil, err
		}
	}
	return splitImages(ctx, run, needed, im, p.dc.ImageExists)
}

// laterBatch joins the hops' images into one load, named after the last
// hop: a wait for any hop version then waits for all of them.
func laterBatch(later []versionImages) versionImages {
	b := versionImages{version: later[len(later)-1].version}
	for _, v := range later {
		b.refs = append(b.refs, v.refs...)
	}
	return b
}

func versionList(vs []versionImages) string {
	var out []string
	for _, v := range vs {
		out = append(out, v.version)
	}
	return strings.Join(out, ", ")
}

// splitImages splits the run's CNI images present in the local engine
// (exists) into the install version's and, in hop order, each later
// version's (every hop version with an image of its own is listed, with no
// refs when none of them is local).
func splitImages(ctx context.Context, run config.Run, needed []topologies.Image, im topologies.Images,
	exists func(context.Context, string) (bool, error)) (install []string, later []versionImages, err error) {
	at := map[string]int{} // normalised version -> index in later
	for _, n := range needed {
		if n.For == "kind node" || n.Ref == im.Echo || n.Ref == im.Router {
			continue
		}
		hop := n.Version != "" && normVersion(n.Version) != normVersion(run.CNI.Version)
		if hop {
			if _, ok := at[normVersion(n.Version)]; !ok {
				at[normVersion(n.Version)] = len(later)
				later = append(later, versionImages{version: n.Version})
			}
		}
		ok, err := exists(ctx, n.Ref)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		if hop {
			i := at[normVersion(n.Version)]
			later[i].refs = append(later[i].refs, n.Ref)
		} else {
			install = append(install, n.Ref)
		}
	}
	return install, later, nil
}

// archiveName is a later version's archive in the run's state folder.
func archiveName(version string) string { return "images-" + normVersion(version) + ".tar" }

// savedImages is a `docker save` of refs into one archive at path, running
// in the background until done is closed.
type savedImages struct {
	path   string
	refs   []string
	cancel context.CancelFunc
	done   chan struct{}
	took   time.Duration
	err    error
}

// saveImages starts saving refs to path; a cancelled ctx stops it.
func (p *provider) saveImages(ctx context.Context, path string, refs []string) *savedImages {
	ctx, cancel := context.WithCancel(ctx)
	s := &savedImages{path: path, refs: refs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		start := time.Now()
		f, err := os.Create(path)
		if err == nil {
			err = p.dc.SaveImages(ctx, refs, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			err = ctx.Err()
		}
		s.took, s.err = time.Since(start), err
	}()
	return s
}

// discard stops the save and removes its archive (nil: nothing to do).
func (s *savedImages) discard() {
	if s == nil {
		return
	}
	s.cancel()
	<-s.done
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "kind provider: %v\n", err)
	}
}

// loadArchive waits for the save of s and loads its archive with load,
// removing the archive after; note, when set, ends its log line. A
// cancelled ctx stops the wait, and the load if it has not begun.
func (p *provider) loadArchive(ctx context.Context, cluster string, s *savedImages, note string,
	load func(cluster, path string, logf func(string, ...any)) error) error {
	defer s.discard()
	waitStart := time.Now()
	var err error
	select {
	case <-s.done:
		err = s.err
	case <-ctx.Done():
		err = ctx.Err()
	}
	waited := time.Since(waitStart)
	start := time.Now()
	if err == nil {
		err = load(cluster, s.path, func(string, ...any) {})
	}
	if err != nil {
		return fmt.Errorf("load %v into the kind nodes: %w", s.refs, err)
	}
	size := "?"
	if st, err := os.Stat(s.path); err == nil {
		size = fmt.Sprintf("%.2f GB", float64(st.Size())/1e9)
	}
	if note != "" {
		note = " (" + note + ")"
	}
	fmt.Fprintf(os.Stderr, "kind provider: images %s (%s): saved in %s (waited %s for it), loaded into the nodes in %s%s\n",
		strings.Join(s.refs, ", "), size, s.took.Round(time.Millisecond), waited.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond), note)
	return nil
}

// cloudSide gives the cloud workers their CNI (framework/cloudcni, the VPC
// CNI's part), waits until they are Ready, and routes the cloud pods'
// addresses from the on-prem side through the router, as a VPC's are.
// CoreDNS is kept on hybrid nodes first, where it ran before the cloud side
// had a CNI: cloud workers are Ready before any hybrid node, and the DNS
// checks judge the hybrid CNI's path to CoreDNS.
func cloudSide(ctx context.Context, kube kubernetes.Interface, image string, te *topologies.Env) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":`+
		`{"nodeSelectorTerms":[{"matchExpressions":[{"key":%q,"operator":"In","values":[%q]}]}]}}}}}}}`, cni.HybridLabel, cni.HybridValue)
	if _, err := kube.AppsV1().Deployments("kube-system").Patch(ctx, "coredns", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("keep CoreDNS on hybrid nodes: %w", err)
	}
	if err := cloudcni.Deploy(ctx, kube, image); err != nil {
		return err
	}
	if err := cloudcni.WaitReady(ctx, kube, 3*time.Minute); err != nil {
		return err
	}
	blocks := map[netip.Prefix]netip.Addr{}
	for _, n := range te.Nodes {
		if n.Role != "cloud" {
			continue
		}
		b, err := cloudcni.Block(n.IP)
		if err != nil {
			return err
		}
		blocks[b] = n.IP
	}
	return te.RouteCloudPods(ctx, cloudcni.PodCIDR, blocks)
}

// routerState writes the router's neighbors and RIB.
func routerState(ctx context.Context, c *router.Client, dir string) error {
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	peers, err := c.Peers(ctx)
	if err != nil {
		return err
	}
	routes, err := c.Routes(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# neighbors\n")
	for _, p := range peers {
		fmt.Fprintln(&b, p.String())
	}
	b.WriteString("\n# RIB\n")
	for _, r := range routes {
		fmt.Fprintln(&b, r.String())
	}
	return os.WriteFile(filepath.Join(dir, "router.txt"), []byte(b.String()), 0o644)
}

func (p *provider) Teardown(ctx context.Context, env *suites.Env) error {
	p.mu.Lock()
	rn := p.envs[env]
	delete(p.envs, env)
	p.mu.Unlock()
	if rn == nil {
		return nil
	}
	stopLoader(ctx, rn)
	if rn.router != nil {
		rn.router.Close()
	}
	return rn.topo.Down(ctx)
}

// stopLoader stops an environment's background image loader, waiting for
// it (a load into the nodes already running finishes first, at most about
// half a minute for a Cilium version), and removes any archive it left, so
// the cluster is deleted with nothing writing to it and the state folder
// empties.
func stopLoader(ctx context.Context, rn *running) {
	if rn.loader == nil {
		return
	}
	if err := rn.loader.Stop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "kind provider: %v; deleting the cluster anyway\n", err)
	}
	for _, s := range rn.loader.steps {
		s.saved.discard()
		if rn.stateDir == "" {
			continue // the cluster never was: no hop archive either
		}
		if err := os.Remove(filepath.Join(rn.stateDir, archiveName(s.version))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "kind provider: %v\n", err)
		}
	}
}
