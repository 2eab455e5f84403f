package chart

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ErrReleaseNotFound is wrapped when a release does not exist.
var ErrReleaseNotFound = errors.New("release not found")

// ErrReleaseExists is wrapped when an install finds the release already there.
var ErrReleaseExists = errors.New("release already exists")

// Cluster is a Kubernetes cluster the Helm actions run against.
type Cluster struct {
	rest *rest.Config
	// Log receives Helm's debug lines (nil: dropped).
	Log func(format string, args ...any)
}

// NewCluster uses a client configuration (e.g. from a kubeconfig).
func NewCluster(rc *rest.Config) *Cluster { return &Cluster{rest: rest.CopyConfig(rc)} }

// LoadKubeconfig reads a kubeconfig file; kubeContext may be empty for the
// current context. A missing or broken file names the flag to fix.
func LoadKubeconfig(path, kubeContext string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	if path == "" {
		rules = clientcmd.NewDefaultClientConfigLoadingRules()
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %q: %w (pass --kubeconfig with a readable kubeconfig file)", path, err)
	}
	return rc, nil
}

// REST returns a copy of the cluster's client configuration.
func (c *Cluster) REST() *rest.Config { return rest.CopyConfig(c.rest) }

// Release is one revision of a Helm release.
type Release struct {
	Name         string
	Namespace    string
	Revision     int
	Status       string
	Chart        string
	ChartVersion string
	AppVersion   string
	Updated      time.Time
	Description  string
	// Values are the values the revision was installed with (not the chart's defaults).
	Values map[string]any
}

func (r Release) String() string {
	return fmt.Sprintf("%s/%s revision %d (%s %s, %s)", r.Namespace, r.Name, r.Revision, r.Chart, r.ChartVersion, r.Status)
}

func fromHelm(r *release.Release) *Release {
	if r == nil {
		return nil
	}
	out := &Release{Name: r.Name, Namespace: r.Namespace, Revision: r.Version, Values: copyValues(r.Config)}
	if r.Info != nil {
		out.Status = r.Info.Status.String()
		out.Updated = r.Info.LastDeployed.Time
		out.Description = r.Info.Description
	}
	if r.Chart != nil && r.Chart.Metadata != nil {
		out.Chart, out.ChartVersion, out.AppVersion = r.Chart.Metadata.Name, r.Chart.Metadata.Version, r.Chart.Metadata.AppVersion
	}
	return out
}

// ActionOptions bound and shape one Helm action.
type ActionOptions struct {
	// Wait makes the action wait until the release's workloads are ready
	// (or deleted, for uninstall).
	Wait bool
	// Timeout bounds the wait and hooks; 0 takes the context's deadline, or 5 minutes.
	Timeout time.Duration
}

func (o ActionOptions) timeout(ctx context.Context) time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return 5 * time.Minute
}

// config builds a Helm action configuration for namespace. Each action gets
// fresh discovery, so CRDs registered in between are seen.
func (c *Cluster) config(namespace string) (*action.Configuration, error) {
	cfg := &action.Configuration{}
	log := c.Log
	if log == nil {
		log = func(string, ...any) {}
	}
	if err := cfg.Init(newRESTGetter(c.rest, namespace), namespace, "secret", log); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return cfg, nil
}

// Install installs chart ch as release name in namespace. An existing
// release of that name is an error wrapping ErrReleaseExists.
func (c *Cluster) Install(ctx context.Context, ch *Chart, name, namespace string, values map[string]any, o ActionOptions) (*Release, error) {
	cfg, err := c.config(namespace)
	if err != nil {
		return nil, err
	}
	if cur, err := c.latest(cfg, name); err == nil {
		return nil, fmt.Errorf("%w: %s; upgrade it or uninstall it first", ErrReleaseExists, cur)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = name, namespace
	in.Wait, in.Timeout = o.Wait, o.timeout(ctx)
	rel, err := in.RunWithContext(ctx, ch.c, copyValues(values))
	if err != nil {
		return fromHelm(rel), fmt.Errorf("helm install %s %s %s into %s: %w", name, ch.Name(), ch.Version(), namespace, err)
	}
	return fromHelm(rel), nil
}

// Upgrade upgrades release name to chart ch with exactly values (the
// previous values are not reused: callers pass the full set).
func (c *Cluster) Upgrade(ctx context.Context, ch *Chart, name, namespace string, values map[string]any, o ActionOptions) (*Release, error) {
	cfg, err := c.config(namespace)
	if err != nil {
		return nil, err
	}
	if _, err := c.latest(cfg, name); err != nil {
		return nil, err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
	up.Wait, up.Timeout = o.Wait, o.timeout(ctx)
	rel, err := up.RunWithContext(ctx, name, ch.c, copyValues(values))
	if err != nil {
		return fromHelm(rel), fmt.Errorf("helm upgrade %s to %s %s: %w", name, ch.Name(), ch.Version(), err)
	}
	return fromHelm(rel), nil
}

// Rollback rolls release name back to revision, or to the previous one
// when revision is 0.
func (c *Cluster) Rollback(ctx context.Context, name, namespace string, revision int, o ActionOptions) (*Release, error) {
	cfg, err := c.config(namespace)
	if err != nil {
		return nil, err
	}
	hist, err := c.history(cfg, name)
	if err != nil {
		return nil, err
	}
	if revision < 0 {
		return nil, fmt.Errorf("rollback %s: revision %d: want a revision number from `helm history` or 0 for the previous one", name, revision)
	}
	if revision > 0 && !containsRevision(hist, revision) {
		return nil, fmt.Errorf("rollback %s: revision %d does not exist; revisions are %s", name, revision, revisionList(hist))
	}
	if revision == 0 && len(hist) < 2 {
		return nil, fmt.Errorf("rollback %s: there is no previous revision (history: %s)", name, revisionList(hist))
	}
	rb := action.NewRollback(cfg)
	rb.Version, rb.Wait, rb.Timeout = revision, o.Wait, o.timeout(ctx)
	if err := runCtx(ctx, rb.Run, name); err != nil {
		return nil, fmt.Errorf("helm rollback %s to %s: %w", name, revisionName(revision), err)
	}
	return c.Get(ctx, name, namespace)
}

// Uninstall removes release name. With Wait it returns once the release's
// objects are gone.
func (c *Cluster) Uninstall(ctx context.Context, name, namespace string, o ActionOptions) error {
	cfg, err := c.config(namespace)
	if err != nil {
		return err
	}
	if _, err := c.latest(cfg, name); err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.Wait, un.Timeout = o.Wait, o.timeout(ctx)
	err = runCtx(ctx, func(n string) error { _, err := un.Run(n); return err }, name)
	if err != nil {
		return fmt.Errorf("helm uninstall %s from %s: %w", name, namespace, err)
	}
	return nil
}

// Get returns the newest revision of release name.
func (c *Cluster) Get(ctx context.Context, name, namespace string) (*Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := c.config(namespace)
	if err != nil {
		return nil, err
	}
	return c.latest(cfg, name)
}

// History returns every stored revision of release name, oldest first.
func (c *Cluster) History(ctx context.Context, name, namespace string) ([]*Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := c.config(namespace)
	if err != nil {
		return nil, err
	}
	return c.history(cfg, name)
}

// Exists reports whether release name exists; errors other than "not
// found" (e.g. an unreachable API server) are returned.
func (c *Cluster) Exists(ctx context.Context, name, namespace string) (bool, error) {
	_, err := c.Get(ctx, name, namespace)
	if errors.Is(err, ErrReleaseNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (c *Cluster) latest(cfg *action.Configuration, name string) (*Release, error) {
	hist, err := c.history(cfg, name)
	if err != nil {
		return nil, err
	}
	return hist[len(hist)-1], nil
}

func (c *Cluster) history(cfg *action.Configuration, name string) ([]*Release, error) {
	h := action.NewHistory(cfg)
	h.Max = 256
	rels, err := h.Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) || (err == nil && len(rels) == 0) {
		return nil, fmt.Errorf("%w: no release %q in namespace %s", ErrReleaseNotFound, name, namespaceOf(cfg))
	}
	if err != nil {
		return nil, fmt.Errorf("helm history %s: %w", name, err)
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version < rels[j].Version })
	out := make([]*Release, len(rels))
	for i, r := range rels {
		out[i] = fromHelm(r)
	}
	return out, nil
}

func namespaceOf(cfg *action.Configuration) string {
	if g, ok := cfg.RESTClientGetter.(*restGetter); ok {
		return g.namespace
	}
	return "?"
}

func containsRevision(h []*Release, rev int) bool {
	for _, r := range h {
		if r.Revision == rev {
			return true
		}
	}
	return false
}

func revisionList(h []*Release) string {
	var s []string
	for _, r := range h {
		s = append(s, fmt.Sprintf("%d (%s %s)", r.Revision, r.ChartVersion, r.Status))
	}
	return strings.Join(s, ", ")
}

func revisionName(rev int) string {
	if rev == 0 {
		return "the previous revision"
	}
	return fmt.Sprintf("revision %d", rev)
}

// runCtx runs a Helm action that takes no context, returning early (with
// the action still running in the background) when ctx ends. The action's
// own Timeout bounds it.
func runCtx(ctx context.Context, fn func(string) error, name string) error {
	done := make(chan error, 1)
	go func() { done <- fn(name) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restGetter is a RESTClientGetter over a rest.Config, with in-memory discovery.
type restGetter struct {
	rc        *rest.Config
	namespace string
	mu        sync.Mutex
	dc        discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
}

var _ genericclioptions.RESTClientGetter = (*restGetter)(nil)

func newRESTGetter(rc *rest.Config, namespace string) *restGetter {
	return &restGetter{rc: rest.CopyConfig(rc), namespace: namespace}
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.rc), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.discoveryLocked()
}

func (g *restGetter) discoveryLocked() (discovery.CachedDiscoveryInterface, error) {
	if g.dc == nil {
		dc, err := discovery.NewDiscoveryClientForConfig(g.rc)
		if err != nil {
			return nil, err
		}
		g.dc = memory.NewMemCacheClient(dc)
	}
	return g.dc, nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mapper == nil {
		dc, err := g.discoveryLocked()
		if err != nil {
			return nil, err
		}
		g.mapper = restmapper.NewDeferredDiscoveryRESTMapper(dc)
	}
	return g.mapper, nil
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: g.rc.Host}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", Namespace: g.namespace}
	cfg.CurrentContext = "c"
	return clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}
