package standin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
)

// CiliumConfigMap is the agent and operator configuration of the release.
const CiliumConfigMap = "cilium-config"

// ciliumBaseCRDs are some of the CRDs every cilium-operator registers.
func ciliumBaseCRDs() []CRD {
	return []CRD{
		{Group: "cilium.io", Kind: "CiliumNetworkPolicy", Plural: "ciliumnetworkpolicies", Namespaced: true, Versions: []string{"v2"}},
		{Group: "cilium.io", Kind: "CiliumNode", Plural: "ciliumnodes", Versions: []string{"v2"}},
		{Group: "cilium.io", Kind: "CiliumEndpoint", Plural: "ciliumendpoints", Namespaced: true, Versions: []string{"v2"}},
	}
}

// ciliumBGPCRDs are the BGP control plane's CRDs, served as versions (first = storage).
func ciliumBGPCRDs(versions []string) []CRD {
	return []CRD{
		{Group: cilium.BGPGroup, Kind: "CiliumBGPClusterConfig", Plural: "ciliumbgpclusterconfigs", Versions: versions},
		{Group: cilium.BGPGroup, Kind: "CiliumBGPPeerConfig", Plural: "ciliumbgppeerconfigs", Versions: versions},
		{Group: cilium.BGPGroup, Kind: "CiliumBGPAdvertisement", Plural: "ciliumbgpadvertisements", Versions: versions},
	}
}

// CiliumOperatorCRDs are some of the CRDs the cilium-operator registers at
// start-up, with the BGP ones served as bgpVersions (first = storage;
// default v2alpha1).
func CiliumOperatorCRDs(bgpVersions ...string) []CRD {
	if len(bgpVersions) == 0 {
		bgpVersions = []string{"v2alpha1"}
	}
	return append(ciliumBaseCRDs(), ciliumBGPCRDs(bgpVersions)...)
}

// CiliumBGPVersions are the versions in which the operator of a Cilium
// release serves the BGP resources (first = storage): v2alpha1 up to 1.17,
// v2 (stored) next to v2alpha1 from 1.18 on, when the BGP API went to v2.
// An unparsable version gets the guide's v2alpha1.
func CiliumBGPVersions(version string) []string {
	v, err := semver.NewVersion(version)
	if err == nil && !v.LessThan(semver.MustParse("1.18.0-0")) {
		return []string{"v2", "v2alpha1"}
	}
	return []string{"v2alpha1"}
}

// ImageVersion is the tag of an image reference (registry/repo:tag@digest), or "".
func ImageVersion(image string) string {
	image, _, _ = strings.Cut(image, "@")
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	return image[i+1:]
}

// CiliumOperator stands in for the cilium-operator: once the release's
// cilium-operator Deployment exists it registers Cilium's CRDs, and the BGP
// ones (in the versions that release serves) when cilium-config enables the
// BGP control plane, as the operator does at start-up. Like the real
// operator it never removes a CRD: that is the guide's cleanup.
type CiliumOperator struct {
	c       *cni.Cluster
	ns      string
	timeout time.Duration
	cancel  context.CancelFunc
	done    chan struct{}
	kick    chan struct{}

	mu         sync.Mutex
	base       bool     // the base CRDs are registered
	bgp        []string // BGP versions registered
	registered []string
	lastErr    error
	rounds     int
}

// StartCiliumOperator starts the stand-in for the release in cilium.Namespace;
// it runs until Close or until ctx ends.
func StartCiliumOperator(ctx context.Context, c *cni.Cluster) (*CiliumOperator, error) {
	ctx, cancel := context.WithCancel(ctx)
	o := &CiliumOperator{c: c, ns: cilium.Namespace, timeout: 30 * time.Second, cancel: cancel,
		done: make(chan struct{}), kick: make(chan struct{}, 1)}
	kick := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { o.poke() },
		UpdateFunc: func(any, any) { o.poke() },
	}
	var synced []cache.InformerSynced
	var factories []informers.SharedInformerFactory
	for _, name := range []string{cilium.OperatorDeployment, CiliumConfigMap} {
		f := informers.NewSharedInformerFactoryWithOptions(c.Kube, 0, informers.WithNamespace(o.ns),
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
				lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
			}))
		var inf cache.SharedIndexInformer
		if name == CiliumConfigMap {
			inf = f.Core().V1().ConfigMaps().Informer()
		} else {
			inf = f.Apps().V1().Deployments().Informer()
		}
		if _, err := inf.AddEventHandler(kick); err != nil {
			cancel()
			return nil, err
		}
		synced = append(synced, inf.HasSynced)
		factories = append(factories, f)
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		cancel()
		for _, f := range factories {
			f.Shutdown()
		}
		return nil, fmt.Errorf("cilium-operator stand-in: watching %s/%s: %v", o.ns, cilium.OperatorDeployment, ctx.Err())
	}
	go func() {
		defer close(o.done)
		defer func() {
			for _, f := range factories {
				f.Shutdown()
			}
		}()
		o.run(ctx)
	}()
	return o, nil
}

func (o *CiliumOperator) poke() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *CiliumOperator) run(ctx context.Context) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.kick:
		case <-retry:
		}
		retry = nil
		err := o.reconcile(ctx)
		if ctx.Err() != nil {
			return
		}
		o.mu.Lock()
		o.lastErr = err
		o.rounds++
		o.mu.Unlock()
		if err != nil {
			// The API server may be busy: try again, bounded by ctx.
			retry = time.After(500 * time.Millisecond)
		}
	}
}

func (o *CiliumOperator) reconcile(ctx context.Context) error {
	dep, err := o.c.Kube.AppsV1().Deployments(o.ns).Get(ctx, cilium.OperatorDeployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil // no operator, nothing registers CRDs
	}
	if err != nil {
		return fmt.Errorf("cilium-operator stand-in: %w", err)
	}
	version := operatorVersion(dep)
	bgpOn := false
	cm, err := o.c.Kube.CoreV1().ConfigMaps(o.ns).Get(ctx, CiliumConfigMap, metav1.GetOptions{})
	switch {
	case err == nil:
		bgpOn = cm.Data["enable-bgp-control-plane"] == "true"
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("cilium-operator stand-in: %w", err)
	}

	o.mu.Lock()
	var crds []CRD
	if !o.base {
		crds = append(crds, ciliumBaseCRDs()...)
	}
	want := CiliumBGPVersions(version)
	// Served versions only grow: a CRD cannot drop a version objects are stored in.
	if bgpOn && !containsAll(o.bgp, want) {
		want = union(want, o.bgp)
		crds = append(crds, ciliumBGPCRDs(want)...)
	} else {
		want = o.bgp
	}
	o.mu.Unlock()
	if len(crds) == 0 {
		return nil
	}
	if err := RegisterCRDs(ctx, o.c, o.timeout, crds...); err != nil {
		return fmt.Errorf("cilium-operator stand-in (%s): %w", version, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.base, o.bgp = true, want
	for _, crd := range crds {
		if !slices.Contains(o.registered, crd.Name()) {
			o.registered = append(o.registered, crd.Name())
		}
	}
	return nil
}

// operatorVersion is the Cilium version of the operator's image ("" if untagged).
func operatorVersion(dep *appsv1.Deployment) string {
	for _, ctr := range dep.Spec.Template.Spec.Containers {
		if ctr.Name == cilium.OperatorDeployment {
			return ImageVersion(ctr.Image)
		}
	}
	if cs := dep.Spec.Template.Spec.Containers; len(cs) > 0 {
		return ImageVersion(cs[0].Image)
	}
	return ""
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// union keeps a's order (a's first stays the storage version) and adds b's extras.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Registered lists the CRDs the stand-in registered so far.
func (o *CiliumOperator) Registered() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.registered)
}

// BGPVersions are the versions the BGP CRDs were registered with (nil: not yet).
func (o *CiliumOperator) BGPVersions() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.bgp)
}

// Rounds is how many times the stand-in looked at the cluster.
func (o *CiliumOperator) Rounds() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rounds
}

// Err is the error of the last attempt, if it failed.
func (o *CiliumOperator) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastErr
}

// Close stops the stand-in and returns the error of its last attempt, if
// that attempt failed.
func (o *CiliumOperator) Close() error {
	o.cancel()
	<-o.done
	if err := o.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
