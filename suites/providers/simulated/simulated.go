// Package simulated provides the suites' API-tier environment: a real
// kube-apiserver, etcd, controller-manager and scheduler with kwok nodes.
// Helm, the CNI lifecycle, readiness and placement run for real; pods run
// no containers, so dataplane, router and node-shell specs skip.
package simulated

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

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
	te  *testenv.Env
	log *os.File
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
	logPath := filepath.Join(resultsDir, "apitier.log")
	if err := os.MkdirAll(resultsDir, 0o755); err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	te, err := testenv.Start(ctx,
		testenv.WithHybridNodes(run.Nodes.Hybrid),
		testenv.WithCloudNodes(run.Nodes.Cloud),
		testenv.WithServiceCIDR(run.Network.ServiceCIDR),
		testenv.WithLogOutput(log))
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("start the API tier: %w", err)
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
	p.mu.Lock()
	p.envs[env] = running{te: te, log: log}
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
	return r.te.Stop()
}
