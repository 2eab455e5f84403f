package testenv

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/e2e-framework/klient"
)

//go:embed kwok-stages.yaml
var kwokStages []byte

// Env is a running API tier: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok on loopback, with fake nodes.
type Env struct {
	cfg        config
	bin        string
	dir        string
	pki        *pki
	ports      ports
	procs      []*process // start order
	kubeconfig string
	restConfig *rest.Config
	kube       kubernetes.Interface
	client     klient.Client
	nodes      []Node
	gate       *networkGate
	started    time.Time
	ready      time.Duration

	mu      sync.Mutex // guards procs (start vs. a concurrent Stop) and nodes
	stopped bool
	stopErr error
}

type ports struct {
	etcdClient, etcdPeer, apiserver, kcm, scheduler, kwok int
}

// Start brings the API tier up and returns once the API server is ready, the
// controller manager, scheduler and kwok are healthy, and every node is
// initialised (cloud nodes Ready; gated hybrid nodes NotReady, waiting for a
// CNI). Start is bounded by WithStartTimeout and by ctx.
//
// On error, everything Start launched is already stopped; the returned Env
// is nil only when nothing was launched, and its Stop is safe to call.
// Interrupts (SIGINT, SIGTERM) stop every running Env before the process
// exits, and children get SIGKILL if the process dies (Pdeathsig).
func Start(ctx context.Context, opts ...Option) (*Env, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	bin := cfg.binDir
	if bin == "" {
		b, err := FindBinaries()
		if err != nil {
			return nil, err
		}
		bin = b
	} else if err := checkBinDir(bin); err != nil {
		return nil, fmt.Errorf("testenv: WithBinDir(%q): %v; run `%s`", bin, err, MakeTarget)
	}
	if cfg.nodes == nil {
		cfg.nodes = defaultNodes(cfg.hybridNodes, cfg.cloudNodes)
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.startTimeout)
	defer cancel()
	// A port picked free can be taken before the component binds it: that
	// is the only failure retried, a bounded number of times, and reported.
	const attempts = 3
	for i := 1; ; i++ {
		e, err := startOnce(ctx, cfg, bin)
		if err == nil || e == nil {
			return e, err
		}
		_ = e.Stop()
		var clash *portClashError
		if !errors.As(err, &clash) || i == attempts {
			return e, err
		}
		e.logf("retrying start (attempt %d of %d): %v", i+1, attempts, clash)
	}
}

type portClashError struct{ err error }

func (p *portClashError) Error() string { return "port taken before bind: " + p.err.Error() }
func (p *portClashError) Unwrap() error { return p.err }

func startOnce(ctx context.Context, cfg config, bin string) (*Env, error) {
	dir, err := os.MkdirTemp("", "hybridcni-testenv-")
	if err != nil {
		return nil, fmt.Errorf("testenv: work folder: %w", err)
	}
	e := &Env{cfg: cfg, bin: bin, dir: dir, started: time.Now()}
	register(e)
	if err := e.start(ctx); err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			err = &portClashError{err}
		}
		_ = e.Stop()
		return e, fmt.Errorf("testenv: start: %w", err)
	}
	e.ready = time.Since(e.started)
	e.logf("ready in %s (%s)", e.ready.Round(time.Millisecond), e.dir)
	return e, nil
}

func (e *Env) start(ctx context.Context) error {
	for _, d := range []string{"logs", "etcd", "pki", "kcm", "scheduler", "kwok"} {
		if err := os.MkdirAll(filepath.Join(e.dir, d), 0o700); err != nil {
			return err
		}
	}
	svc := netip.MustParsePrefix(e.cfg.serviceCIDR)
	serviceIP := svc.Addr().Next() // the kubernetes Service's ClusterIP
	p, err := newPKI(filepath.Join(e.dir, "pki"), net.IP(serviceIP.AsSlice()))
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	e.pki = p
	free, err := pickPorts(6)
	if err != nil {
		return err
	}
	e.ports = ports{free[0], free[1], free[2], free[3], free[4], free[5]}

	// etcd
	etcd, err := e.launch(Etcd, e.etcdArgs(), nil)
	if err != nil {
		return err
	}
	if err := e.waitHTTP(ctx, etcd, fmt.Sprintf("http://127.0.0.1:%d/health", e.ports.etcdClient), nil); err != nil {
		return err
	}

	// kube-apiserver
	api, err := e.launch(KubeAPIServer, e.apiserverArgs(), nil)
	if err != nil {
		return err
	}
	if err := e.writeKubeconfigs(); err != nil {
		return err
	}
	apiClient, err := rest.HTTPClientFor(e.restConfig)
	if err != nil {
		return err
	}
	if err := e.waitHTTP(ctx, api, e.restConfig.Host+"/readyz", apiClient); err != nil {
		return err
	}
	if e.kube, err = kubernetes.NewForConfig(e.restConfig); err != nil {
		return err
	}
	if e.client, err = klient.New(e.restConfig); err != nil {
		return err
	}

	// kube-controller-manager, kube-scheduler and kwok, checked together.
	type probe struct {
		p   *process
		url string
	}
	var probes []probe
	for _, c := range []struct {
		name string
		args []string
		env  []string
		url  string
	}{
		{KubeControllerManager, e.kcmArgs(), nil, fmt.Sprintf("https://127.0.0.1:%d/healthz", e.ports.kcm)},
		{KubeScheduler, e.schedulerArgs(), nil, fmt.Sprintf("https://127.0.0.1:%d/healthz", e.ports.scheduler)},
		// HOME: kwok also loads ~/.kwok/kwok.yaml when present; keep it out.
		{Kwok, e.kwokArgs(), []string{"HOME=" + filepath.Join(e.dir, "kwok")}, fmt.Sprintf("http://127.0.0.1:%d/healthz", e.ports.kwok)},
	} {
		p, err := e.launch(c.name, c.args, c.env)
		if err != nil {
			return err
		}
		probes = append(probes, probe{p, c.url})
	}
	for _, pr := range probes {
		if err := e.waitHTTP(ctx, pr.p, pr.url, insecureLoopbackClient); err != nil {
			return err
		}
	}

	if e.cfg.networkGate {
		e.gate = startNetworkGate(e.kube, e.cfg.parsedSelector, e.logf)
	}
	if _, err := e.AddNodes(ctx, e.cfg.nodes...); err != nil {
		return err
	}
	e.logf("%d nodes registered (%s after start)", len(e.cfg.nodes), time.Since(e.started).Round(time.Millisecond))
	if err := e.waitNodesInitialised(ctx); err != nil {
		return err
	}
	e.logf("nodes initialised (%s after start)", time.Since(e.started).Round(time.Millisecond))
	return e.waitDefaultServiceAccounts(ctx)
}

// launch starts a component and records it for Stop.
func (e *Env) launch(name string, args, env []string) (*process, error) {
	args = append(args, e.cfg.extraArgs[name]...)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil, fmt.Errorf("%s not started: the environment was stopped", name)
	}
	p, err := startProcess(name, filepath.Join(e.bin, name), args, env, filepath.Join(e.dir, "logs", name+".log"))
	if err != nil {
		return nil, err
	}
	e.procs = append(e.procs, p)
	e.logf("%s started (pid %d)", name, p.pid())
	return p, nil
}

func (e *Env) etcdArgs() []string {
	client := fmt.Sprintf("http://127.0.0.1:%d", e.ports.etcdClient)
	peer := fmt.Sprintf("http://127.0.0.1:%d", e.ports.etcdPeer)
	return []string{
		"--name=testenv",
		"--data-dir=" + filepath.Join(e.dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=testenv=" + peer,
		"--unsafe-no-fsync", // throw-away data: skip fsync, it only costs time
		"--log-level=warn",
	}
}

func (e *Env) apiserverArgs() []string {
	return []string{
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", e.ports.etcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(e.ports.apiserver),
		// With a loopback advertise address the endpoint reconciler fails.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + e.pki.certFile,
		"--tls-private-key-file=" + e.pki.keyFile,
		"--client-ca-file=" + e.pki.caFile,
		"--token-auth-file=" + e.pki.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + e.pki.saPubFile,
		"--service-account-signing-key-file=" + e.pki.saKeyFile,
		"--service-cluster-ip-range=" + e.cfg.serviceCIDR,
		"--allow-privileged=true", // CNI agents are privileged
		"--profiling=false",
		"--cert-dir=" + filepath.Join(e.dir, "pki"),
	}
}

func (e *Env) kcmArgs() []string {
	kc := e.componentKubeconfig(KubeControllerManager)
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(e.ports.kcm),
		"--cert-dir=" + filepath.Join(e.dir, "kcm"),
		"--leader-elect=false",
		// Node pod CIDRs are set on the fake nodes; nothing to allocate.
		"--controllers=*,-nodeipam",
		"--service-account-private-key-file=" + e.pki.saKeyFile,
		"--root-ca-file=" + e.pki.caFile,
		"--service-cluster-ip-range=" + e.cfg.serviceCIDR,
		"--profiling=false",
	}
}

func (e *Env) schedulerArgs() []string {
	kc := e.componentKubeconfig(KubeScheduler)
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(e.ports.scheduler),
		"--cert-dir=" + filepath.Join(e.dir, "scheduler"),
		"--leader-elect=false",
		"--profiling=false",
	}
}

func (e *Env) kwokArgs() []string {
	return []string{
		"--kubeconfig=" + e.componentKubeconfig(Kwok),
		"--config=" + filepath.Join(e.dir, "kwok", "stages.yaml"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokAnnotation + "=" + kwokValue,
		"--node-lease-duration-seconds=40",
		"--server-address=" + fmt.Sprintf("127.0.0.1:%d", e.ports.kwok),
	}
}

func (e *Env) componentKubeconfig(name string) string {
	return filepath.Join(e.dir, name+".kubeconfig")
}

// writeKubeconfigs writes the admin kubeconfig, one per component, and the
// kwok stage file, and builds the rest.Config.
func (e *Env) writeKubeconfigs() error {
	server := fmt.Sprintf("https://127.0.0.1:%d", e.ports.apiserver)
	write := func(path, user, token string) error {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["hybridcni-testenv"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: e.pki.caPEM}
		cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
		cfg.Contexts["hybridcni-testenv"] = &clientcmdapi.Context{Cluster: "hybridcni-testenv", AuthInfo: user}
		cfg.CurrentContext = "hybridcni-testenv"
		return clientcmd.WriteToFile(*cfg, path)
	}
	e.kubeconfig = filepath.Join(e.dir, "kubeconfig")
	if err := write(e.kubeconfig, tokenUsers[0], e.pki.adminToken); err != nil {
		return err
	}
	for user, tok := range e.pki.componentTokens {
		if err := write(e.componentKubeconfig(user), user, tok); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(e.dir, "kwok", "stages.yaml"), kwokStages, 0o600); err != nil {
		return err
	}
	e.restConfig = &rest.Config{
		Host:            server,
		BearerToken:     e.pki.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.pki.caPEM},
		QPS:             100,
		Burst:           200,
	}
	return nil
}

// Stop ends every component (SIGTERM, then SIGKILL after a grace period),
// waits for them to be reaped and removes the work folder (unless
// WithKeepDir). It is idempotent and safe on a partly started Env.
func (e *Env) Stop() error {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return e.stopErr
	}
	e.stopped = true
	procs := e.procs
	e.mu.Unlock()

	if e.gate != nil {
		e.gate.stop()
	}
	var errs []error
	// Reverse start order: clients first, etcd last. The clients of the API
	// server go together; they do not depend on each other.
	var wg sync.WaitGroup
	var errMu sync.Mutex
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.name == KubeAPIServer || p.name == Etcd {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(e.cfg.stopTimeout); err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i := len(procs) - 1; i >= 0; i-- {
		if p := procs[i]; p.name == KubeAPIServer || p.name == Etcd {
			if err := p.stop(e.cfg.stopTimeout); err != nil {
				errs = append(errs, err)
			}
		}
	}
	unregister(e)
	if !e.cfg.keepDir && len(errs) == 0 {
		if err := os.RemoveAll(e.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", e.dir, err))
		}
	}
	e.stopErr = errors.Join(errs...)
	if e.stopErr == nil {
		e.logf("stopped")
	}
	return e.stopErr
}

// RESTConfig is an admin (system:masters) client configuration.
func (e *Env) RESTConfig() *rest.Config { return rest.CopyConfig(e.restConfig) }

// Client is an e2e-framework client for the API server.
func (e *Env) Client() klient.Client { return e.client }

// Kube is a client-go clientset for the API server.
func (e *Env) Kube() kubernetes.Interface { return e.kube }

// Kubeconfig is the path of an admin kubeconfig file.
func (e *Env) Kubeconfig() string { return e.kubeconfig }

// Dir is the work folder: logs/, pki/, etcd data, kubeconfigs.
func (e *Env) Dir() string { return e.dir }

// StartupTime is how long Start took until everything was ready.
func (e *Env) StartupTime() time.Duration { return e.ready }

// Nodes returns the fake nodes, in creation order.
func (e *Env) Nodes() []Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Node(nil), e.nodes...)
}

// HybridNodes returns the names of the hybrid nodes.
func (e *Env) HybridNodes() []string { return e.nodeNames(true) }

// CloudNodes returns the names of the cloud nodes.
func (e *Env) CloudNodes() []string { return e.nodeNames(false) }

func (e *Env) nodeNames(hybrid bool) []string {
	var names []string
	for _, n := range e.Nodes() {
		if n.Hybrid == hybrid {
			names = append(names, n.Name)
		}
	}
	return names
}

// PIDs returns the process ids of the components, by name.
func (e *Env) PIDs() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := map[string]int{}
	for _, p := range e.procs {
		m[p.name] = p.pid()
	}
	return m
}

// LogTail returns the last n lines of a component's log.
func (e *Env) LogTail(component string, n int) string {
	return logTail(component, filepath.Join(e.dir, "logs", component+".log"), n)
}

// Failed reports a component that exited while the Env runs, with its log.
func (e *Env) Failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	for _, p := range e.procs {
		if p.exited() {
			return p.exitError()
		}
	}
	return nil
}

func (e *Env) logf(format string, args ...any) {
	if e.cfg.logOutput == nil {
		return
	}
	fmt.Fprintf(e.cfg.logOutput, "testenv: "+format+"\n", args...)
}

// pickPorts is freePorts; a test replaces it to hand out a taken port.
var pickPorts = freePorts

// freePorts returns n distinct loopback TCP ports free at call time.
func freePorts(n int) ([]int, error) {
	var ls []io.Closer
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free loopback port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
