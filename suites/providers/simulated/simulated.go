// Package simulated provides the suites' API-tier environment: a real
// kube-apiserver, etcd, controller-manager and scheduler with kwok nodes.
// kwok runs no containers, so the CNI's operator is simulated: Provision
// starts the run's operator stand-in (framework/cni/standin: the Cilium
// CRDs the cilium-operator registers, calico-system as the tigera-operator
// builds it) and Teardown stops it. Helm, the lifecycle logic, readiness,
// placement and cleanup are real; dataplane, router and node-shell specs
// skip with the reason.
package simulated

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hybridcni/hybridcni/framework/cloudcni"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/standin"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/testenv"
	"github.com/hybridcni/hybridcni/suites"
)

// Name is the provider's name on the command line (--provider simulated).
const Name = "simulated"

func init() {
	suites.RegisterProvider(Name, func(suites.Options) suites.Provider {
		return &provider{envs: map[*suites.Env]running{}}
	})
}

type running struct {
	te      *testenv.Env
	log     *os.File
	standIn standin.Stop
}

type provider struct {
	mu   sync.Mutex
	envs map[*suites.Env]running
}

func (p *provider) Name() string { return Name }

// Prepare checks that the API-tier binaries are built.
func (p *provider) Prepare(context.Context) error {
	_, err := testenv.FindBinaries()
	return err
}

func (p *provider) Provision(ctx context.Context, run config.Run, resultsDir string) (*suites.Env, error) {
	// One log per run: several runs may share a results folder.
	logPath := filepath.Join(resultsDir, fmt.Sprintf("apitier-%s-%s.log", run.CNI.Name, run.CNI.Version))
	if err := os.MkdirAll(resultsDir, 0o755); err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	var stop standin.Stop
	te, err := testenv.Start(ctx,
		testenv.WithHybridNodes(run.Nodes.Hybrid),
		testenv.WithCloudNodes(run.Nodes.Cloud),
		testenv.WithServiceCIDR(run.Network.ServiceCIDR),
		testenv.WithLogOutput(log))
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("start the API tier: %w", err)
	}
	cluster, err := cni.NewCluster(te.RESTConfig())
	if err == nil {
		// The stand-in outlives Provision's context; Teardown stops it.
		stop, err = standin.Start(context.WithoutCancel(ctx), run.CNI.Name, cluster)
	}
	if err != nil {
		_ = te.Stop()
		log.Close()
		return nil, fmt.Errorf("start the %s operator stand-in: %w", run.CNI.Name, err)
	}
	env := &suites.Env{
		Run:        run,
		Provider:   Name,
		Kubeconfig: te.Kubeconfig(),
		REST:       te.RESTConfig(),
		Kube:       te.Kube(),
		ResultsDir: resultsDir,
		Lacking: map[suites.Capability]string{
			suites.Dataplane:  "kwok simulates pods; no packets flow",
			suites.Router:     "there is no on-prem router",
			suites.OnPremHost: "there is no on-prem host",
			suites.NodeShell:  "kwok nodes have no shell",
		},
	}
	for _, n := range te.Nodes() {
		env.Nodes = append(env.Nodes, suites.Node{Name: n.Name, Address: n.InternalIP, Hybrid: n.Hybrid})
	}
	// The cloud CNI's DaemonSet, as on kind: kwok runs its pods, so its
	// placement (and the fault that moves it) is judged on this tier.
	if run.Nodes.Cloud > 0 {
		err = cloudcni.Deploy(ctx, te.Kube(), "hybridcni/echo:simulated")
		if err == nil {
			err = cloudcni.WaitReady(ctx, te.Kube(), 2*time.Minute)
		}
		if err != nil {
			_ = stop()
			_ = te.Stop()
			log.Close()
			return nil, err
		}
	} else {
		env.Lacking[suites.CloudCNI] = "the run has no cloud node, so no cloud CNI is deployed (nodes.cloud)"
	}
	p.mu.Lock()
	p.envs[env] = running{te: te, log: log, standIn: stop}
	p.mu.Unlock()
	return env, nil
}

func (p *provider) Teardown(_ context.Context, env *suites.Env) error {
	p.mu.Lock()
	r, ok := p.envs[env]
	delete(p.envs, env)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	defer r.log.Close()
	serr := r.standIn()
	if serr != nil {
		serr = fmt.Errorf("operator stand-in: %w", serr)
	}
	return errors.Join(serr, r.te.Stop())
}
