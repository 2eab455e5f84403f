// Package existing runs the suites on a cluster that already exists (a
// staging cluster with real hybrid nodes, or one `hybridcni up` made): it
// discovers the hybrid and cloud nodes by the hybrid label and the CNI's
// Helm release, and provides only what the user names: the on-prem router
// through its GoBGP API (--router-api), an on-prem host running
// `hybridcni echo` (--on-prem-host), node commands through a short-lived
// privileged pod per node (--node-shell). Everything it makes lives in the
// harness's namespace, which Teardown deletes.
package existing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/framework/router"
	"github.com/hybridcni/hybridcni/suites"
)

// Name is the provider's name on the command line (--provider existing).
const Name = "existing"

// Default ports of `hybridcni echo` on the on-prem host.
const (
	OnPremHTTPPort = 8080
	OnPremUDPPort  = 9000
)

// Options are the existing provider's own options (suites.Options.ProviderOptions).
type Options struct {
	// Kubeconfig and Context name the cluster ("" : $KUBECONFIG or
	// ~/.kube/config, and its current context).
	Kubeconfig, Context string
	// RouterAPI is the on-prem router's GoBGP gRPC API, host:port ("" : none).
	RouterAPI string
	// OnPremHost is where the user runs `hybridcni echo`: an address, or
	// address:port for the HTTP port (UDP stays 9000) ("" : none).
	OnPremHost string
	// NodeShell runs node commands through a privileged pod per node.
	NodeShell bool
	// NodeShellImage is that pod's image: "" runs the harness's echo image
	// (its binary enters the host itself); another image must have nsenter.
	NodeShellImage string
	// EchoImage is the workload's image ("" : the harness's echo image of
	// this build, which the nodes must be able to pull).
	EchoImage string
	// PodsRoutable: the control plane reaches pod addresses (EKS remote pod
	// networks); nil: when BGP is on.
	PodsRoutable *bool
}

// The flags that enable each capability, as the skips name them.
const (
	RouterFlag    = "--router-api"
	OnPremFlag    = "--on-prem-host"
	NodeShellFlag = "--node-shell"
)

// Lacking reasons: each says which flag would enable the capability.
var (
	lackRouter    = "no on-prem router API was given: pass " + RouterFlag + " HOST:PORT (the router's GoBGP gRPC API)"
	lackOnPrem    = "no on-prem host was given: pass " + OnPremFlag + " ADDR of a host running `hybridcni echo`"
	lackNodeShell = "node commands are off: pass " + NodeShellFlag + " to run them through a privileged pod per node (hostPID, hostNetwork)"
	lackCloudCNI  = "the cloud CNI of an existing cluster (the VPC CNI's aws-node) is not identified yet: the cloud-side checks run on kind"
)

func init() {
	suites.RegisterProvider(Name, func(o suites.Options) suites.Provider {
		eo, _ := o.ProviderOptions.(Options)
		return &provider{opts: o, eo: eo, envs: map[*suites.Env]*running{}}
	})
}

type provider struct {
	opts suites.Options
	eo   Options

	mu   sync.Mutex
	envs map[*suites.Env]*running
}

type running struct {
	kube   kubernetes.Interface
	router *router.Client
	shells *nodeShells
}

func (p *provider) Name() string { return Name }

// Validate judges the options before anything is created.
func (p *provider) Validate(o suites.Options) error {
	if _, ok := o.ProviderOptions.(Options); !ok {
		return config.Invalid("--provider", "existing checks one cluster you name, with `hybridcni run`",
			"run `hybridcni run --provider existing --kubeconfig FILE`")
	}
	if o.Faults {
		return config.Invalid("--faults", "faults break nodes and the CNI on purpose; the existing provider never does",
			"run the fault phases with --provider kind")
	}
	if p.eo.OnPremHost != "" {
		if _, _, err := OnPremAddress(p.eo.OnPremHost); err != nil {
			return err
		}
	}
	if p.eo.RouterAPI != "" {
		if _, _, err := net.SplitHostPort(p.eo.RouterAPI); err != nil {
			return config.Invalid(RouterFlag, fmt.Sprintf("%q is not HOST:PORT", p.eo.RouterAPI), "pass e.g. --router-api 10.80.0.254:50051")
		}
	}
	return nil
}

// OnPremAddress splits --on-prem-host into the address and HTTP port.
func OnPremAddress(s string) (ip string, httpPort int, err error) {
	host, port := s, OnPremHTTPPort
	if h, ps, e := net.SplitHostPort(s); e == nil {
		host = h
		if port, e = strconv.Atoi(ps); e != nil || port <= 0 || port > 65535 {
			return "", 0, config.Invalid(OnPremFlag, fmt.Sprintf("%q: port %q is not a port", s, ps), "pass ADDR or ADDR:PORT, e.g. 192.168.10.5:8080")
		}
	}
	if net.ParseIP(host) == nil {
		return "", 0, config.Invalid(OnPremFlag, fmt.Sprintf("%q is not an IP address", s), "pass the on-prem host's address, e.g. 192.168.10.5")
	}
	return host, port, nil
}

// Prepare has nothing to check beyond what Provision connects to.
func (p *provider) Prepare(context.Context) error { return nil }

// Connect loads the kubeconfig and says which cluster it names: the API
// endpoint and the context.
func Connect(kubeconfig, kubeContext string) (rc *rest.Config, endpoint, contextName string, err error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, "", "", err
	}
	contextName = kubeContext
	if contextName == "" {
		contextName = raw.CurrentContext
	}
	rc, err = cc.ClientConfig()
	if err != nil {
		return nil, "", "", err
	}
	return rc, rc.Host, contextName, nil
}

// Provision describes the cluster as it is; it creates nothing (the suites
// make the echo workload in the harness's namespace).
func (p *provider) Provision(ctx context.Context, run config.Run, resultsDir string) (*suites.Env, error) {
	rc, _, _, err := Connect(p.eo.Kubeconfig, p.eo.Context)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	hybrid, cloud, err := Nodes(ctx, kube)
	if err != nil {
		return nil, err
	}
	echoImage := p.eo.EchoImage
	if echoImage == "" {
		_, echoImage = image.HarnessRefs(buildinfo.Version)
	}
	env := &suites.Env{
		Run: run, Provider: Name, Kubeconfig: p.eo.Kubeconfig, REST: rc, Kube: kube,
		EchoImage: echoImage, ResultsDir: resultsDir, PodsRoutable: run.BGP.Enabled,
		Nodes: append(hybrid, cloud...),
	}
	if p.eo.PodsRoutable != nil {
		env.PodsRoutable = *p.eo.PodsRoutable
	}
	rn := &running{kube: kube}
	env.Lacking = Lacking(p.eo)
	if p.eo.RouterAPI != "" {
		if rn.router, err = dialRouter(ctx, p.eo.RouterAPI); err != nil {
			return nil, err
		}
		env.Router = rn.router
	}
	if p.eo.OnPremHost != "" {
		ip, port, err := OnPremAddress(p.eo.OnPremHost)
		if err != nil {
			return nil, err
		}
		// A target only: the harness cannot run probes there.
		env.OnPrem = &probe.Source{Name: "on-prem-host", IP: ip}
		env.OnPremHTTPPort, env.OnPremUDPPort = port, OnPremUDPPort
	}
	if p.eo.NodeShell {
		img, enter := p.eo.NodeShellImage, nsenterArgv
		if img == "" {
			img, enter = echoImage, harnessEnterArgv
		}
		rn.shells = &nodeShells{rest: rc, kube: kube, image: img, enter: enter, pods: map[string]string{}}
		env.NodeExec = rn.shells.exec
	}
	p.mu.Lock()
	p.envs[env] = rn
	p.mu.Unlock()
	return env, nil
}

// Lacking says, for each capability the options do not provide, which
// flag would (a real cluster always has a dataplane).
func Lacking(o Options) map[suites.Capability]string {
	out := map[suites.Capability]string{}
	if o.RouterAPI == "" {
		out[suites.Router] = lackRouter
	}
	if o.OnPremHost == "" {
		out[suites.OnPremHost] = lackOnPrem
	}
	if !o.NodeShell {
		out[suites.NodeShell] = lackNodeShell
	}
	out[suites.CloudCNI] = lackCloudCNI
	return out
}

// dialRouter connects to the router's API and waits (bounded) until BGP
// runs behind it.
func dialRouter(ctx context.Context, addr string) (*router.Client, error) {
	c, err := router.Dial(addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", RouterFlag, addr, err)
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		started, err := c.Started(pctx)
		if err == nil && !started {
			err = errors.New("BGP has not started behind the API")
		}
		last = err
		return err == nil, nil
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s %s does not answer as a GoBGP API within 30s: %v (fix: pass the router's gRPC API address, e.g. gobgpd --api-hosts)", RouterFlag, addr, last)
	}
	return c, nil
}

// Teardown deletes the harness's namespace (the echo workload, node
// probes and node shells) and waits until it is gone, bounded.
func (p *provider) Teardown(ctx context.Context, env *suites.Env) error {
	p.mu.Lock()
	rn := p.envs[env]
	delete(p.envs, env)
	p.mu.Unlock()
	if rn == nil {
		return nil
	}
	if rn.router != nil {
		rn.router.Close()
	}
	return DeleteNamespace(ctx, rn.kube, 3*time.Minute)
}

// DeleteNamespace deletes the harness's namespace with its pods at once
// and waits until it is gone.
func DeleteNamespace(ctx context.Context, kube kubernetes.Interface, timeout time.Duration) error {
	ns := suites.HarnessNamespace
	// Pods first with no grace: the namespace then goes in seconds.
	_ = kube.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{})
	err := kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s still there after %s: %w (fix: kubectl delete namespace %s)", ns, timeout, err, ns)
	}
	return nil
}
