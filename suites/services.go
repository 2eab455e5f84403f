package suites

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/report"
)

// advertisedService is a service the BGP checks made, with the address of
// it the CNI should advertise.
type advertisedService struct {
	kind    string // cni.ClusterIP, cni.ExternalIP, cni.LoadBalancerIP
	name    string
	address string
}

func (s advertisedService) String() string {
	return fmt.Sprintf("service %s/%s %s %s", workloadNamespace, s.name, s.kind, s.address)
}

// externalIPSeq hands each service a fresh external IP, so a check never
// sees the address an earlier one left.
var externalIPSeq atomic.Uint32

// createAdvertisedServices makes one service per address type the CNI
// advertises (Facts.ServiceAddresses), named after the phase and tag: a
// ClusterIP service, one with an external IP from cni.ExternalIPCIDR, and a
// LoadBalancer whose address the CNI's own IPAM hands out from
// cni.LoadBalancerPoolCIDR (waited for, bounded). They are deleted when the
// spec ends.
func (w *world) createAdvertisedServices(ctx SpecContext, tag string) []advertisedService {
	types := w.facts().ServiceAddresses
	Expect(types).NotTo(BeEmpty(), "the %s profile names no advertised service addresses (framework/cni Facts.ServiceAddresses) and states no reason (NoServiceAdvertisement)", w.run.CNI.Name)
	kube := w.env.Kube.CoreV1().Services(workloadNamespace)
	var out []advertisedService
	for _, t := range types {
		name := fmt.Sprintf("bgp-%s-%s-%s", tag, strings.ToLower(t), w.phase.Name)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNamespace, Labels: map[string]string{"advertise": "bgp"}},
			Spec: corev1.ServiceSpec{Selector: map[string]string{labelApp: "hybridcni-echo"},
				Ports: []corev1.ServicePort{{Port: echoHTTPPort, TargetPort: intstr.FromInt32(echoHTTPPort)}}},
		}
		switch t {
		case cni.ClusterIP:
		case cni.ExternalIP:
			svc.Spec.ExternalIPs = []string{externalIP(externalIPSeq.Add(1))}
		case cni.LoadBalancerIP:
			svc.Spec.Type = corev1.ServiceTypeLoadBalancer
			w.applyLoadBalancerPool(ctx)
		default:
			Fail(fmt.Sprintf("the %s profile advertises service addresses %q, which the BGP checks do not know (want %s, %s or %s)",
				w.run.CNI.Name, t, cni.ClusterIP, cni.ExternalIP, cni.LoadBalancerIP))
		}
		_ = kube.Delete(ctx, name, metav1.DeleteOptions{}) // left by an interrupted phase
		created, err := kube.Create(ctx, svc, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred(), "create service %s (%s)", name, t)
		DeferCleanup(func(ctx SpecContext) { _ = kube.Delete(ctx, name, metav1.DeleteOptions{}) })
		s := advertisedService{kind: t, name: name}
		switch t {
		case cni.ClusterIP:
			s.address = created.Spec.ClusterIP
		case cni.ExternalIP:
			s.address = created.Spec.ExternalIPs[0]
		case cni.LoadBalancerIP:
			s.address = w.loadBalancerAddress(ctx, name)
		}
		out = append(out, s)
	}
	return out
}

// externalIP is the n-th address of cni.ExternalIPCIDR past its first,
// wrapping inside the range.
func externalIP(n uint32) string {
	p := netip.MustParsePrefix(cni.ExternalIPCIDR)
	size := uint32(1) << (32 - p.Bits())
	a := p.Addr().As4()
	base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v := base + 1 + n%(size-2)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// applyLoadBalancerPool applies the objects the CNI's LoadBalancer IPAM
// needs (cni.LoadBalancerIPAM), each in the version the cluster serves.
func (w *world) applyLoadBalancerPool(ctx context.Context) {
	lb, ok := w.driver.Profile().(cni.LoadBalancerIPAM)
	if !ok {
		return
	}
	objs := lb.LoadBalancerPool(w.run)
	for _, o := range objs {
		gv := o.GroupVersionKind()
		v, served, err := cni.ServedVersion(w.env.Kube.Discovery(), gv.Group, gv.Kind)
		Expect(err).NotTo(HaveOccurred())
		Expect(served).To(BeTrue(), "the cluster serves no %s in %s: the CNI's LoadBalancer IPAM is not installed", gv.Kind, gv.Group)
		o.SetAPIVersion(gv.Group + "/" + v)
	}
	_, err := w.cluster.Apply(ctx, objs)
	Expect(err).NotTo(HaveOccurred(), "apply the LoadBalancer pool %s", cni.LoadBalancerPoolCIDR)
}

// loadBalancerAddress waits (bounded) for the CNI to give service name a
// LoadBalancer address, which must be inside cni.LoadBalancerPoolCIDR.
func (w *world) loadBalancerAddress(ctx context.Context, name string) string {
	var addr string
	var last *corev1.Service
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		s, err := w.env.Kube.CoreV1().Services(workloadNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = s
		for _, in := range s.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				addr = in.IP
				return true, nil
			}
		}
		return false, nil
	})
	status := "no status"
	if last != nil {
		status = fmt.Sprintf("status %+v", last.Status.LoadBalancer)
	}
	Expect(err).NotTo(HaveOccurred(), "service %s/%s got no LoadBalancer address from %s's IPAM (pool %s): %s",
		workloadNamespace, name, w.run.CNI.Name, cni.LoadBalancerPoolCIDR, status)
	ip, err := netip.ParseAddr(addr)
	Expect(err).NotTo(HaveOccurred(), "LoadBalancer address %q of %s", addr, name)
	Expect(netip.MustParsePrefix(cni.LoadBalancerPoolCIDR).Contains(ip)).To(BeTrue(),
		"service %s/%s got LoadBalancer address %s, outside the pool %s", workloadNamespace, name, ip, cni.LoadBalancerPoolCIDR)
	return addr
}

// guideProbeTimeout bounds how long the guide's own objects get to advertise
// a service before that is reported as a finding about the guide (the
// fixed objects then advertise within the check's usual timeout). Cilium
// advertises a service in about a second once its objects select it: in the
// offline chain (2 cores, every version 1.16.19 to 1.20.2) the fix was
// applied and all three service addresses were seen from both nodes within
// 1.4-1.7 s of the probe's end, so 10 s is six times that; the probe is
// paid in full on every version where the guide's objects advertise
// nothing (all of 1.16.19 to 1.20.2), so a longer bound only slows runs.
const guideProbeTimeout = 10 * time.Second

// guideServiceFix runs the guide's BGP objects as written first, for a
// cni.GuideFixer profile: when they advertise the ClusterIP of probe from
// no hybrid node within guideProbeTimeout, that is a finding about the
// guide on this version, reported with the fix; the fix is then applied so
// the check goes on to show it works, and the guide's objects come back when
// the spec ends. The guide's objects are tried once per version in a run
// (w.guideVerdicts): a later check of that version reuses the verdict, so a
// fault held by the fault matrix is never taken for a finding about the
// guide, and the minute of the probe is paid once.
func (w *world) guideServiceFix(ctx SpecContext, svcs []advertisedService) {
	fixer, ok := w.driver.Profile().(cni.GuideFixer)
	if !ok {
		return
	}
	run := w.run
	if w.phase.Version != "" {
		run.CNI.Version = w.phase.Version
	}
	finding, tried := w.guideVerdicts[run.CNI.Version]
	if !tried {
		finding = w.tryGuideObjects(ctx, run, fixer, svcs)
		if w.guideVerdicts == nil {
			w.guideVerdicts = map[string]string{}
		}
		w.guideVerdicts[run.CNI.Version] = finding
	} else if finding == "" {
		AddReportEntry("guide", fmt.Sprintf("%s %s: the guide's BGP objects as written advertise services (tried earlier in this run)", run.CNI.Name, run.CNI.Version))
	}
	if finding == "" {
		return
	}
	AddReportEntry(report.GuideFindingEntry, finding) // the matrix marks it on the cell, not as a failure
	fmt.Fprintln(GinkgoWriter, finding)
	fixed, _ := fixer.ServiceAdvertisementFix(run)
	_, err := w.cluster.Apply(ctx, fixed)
	Expect(err).NotTo(HaveOccurred(), "apply the fix to the guide's objects")
	DeferCleanup(func(ctx SpecContext) {
		_, err := w.cluster.Apply(ctx, w.driver.Profile().BGPResources(run))
		Expect(err).NotTo(HaveOccurred(), "restore the guide's BGP objects as written")
	})
}

// tryGuideObjects probes the guide's BGP objects as written with the
// ClusterIP service of svcs for up to guideProbeTimeout: "" when they
// advertise it, else the finding about the guide with its fix.
func (w *world) tryGuideObjects(ctx SpecContext, run config.Run, fixer cni.GuideFixer, svcs []advertisedService) string {
	var probe *advertisedService
	for i := range svcs {
		if svcs[i].kind == cni.ClusterIP {
			probe = &svcs[i]
		}
	}
	Expect(probe).NotTo(BeNil(), "no ClusterIP service to probe the guide's objects with")
	k := w.checker()
	k.Timeout = guideProbeTimeout
	// Any node will do: the guide's objects advertise services or they do
	// not; a node that lags the others is the check's failure, not a
	// finding about the guide (only the nodes peer with the router).
	start := time.Now()
	err := k.ServiceAdvertised(ctx, probe.address)
	if err == nil {
		AddReportEntry("guide", fmt.Sprintf("%s %s: the guide's BGP objects as written advertise %s", run.CNI.Name, run.CNI.Version, probe))
		return ""
	}
	// Run out by design, once: a later check of this version reuses the verdict.
	w.waitedOnce(time.Since(start))
	_, fix := fixer.ServiceAdvertisementFix(run)
	return guideFinding(run, *probe, err, fix)
}

// guideFinding is the text of a finding about the guide: on the run's
// version its objects as written advertised no address of probe (err is
// the router check's failure), and the fix the check goes on with.
func guideFinding(run config.Run, probe advertisedService, err error, fix string) string {
	return fmt.Sprintf("finding about the guide: on %s %s its BGP objects as written advertise no service address "+
		"(%s: %v); the check goes on with the fix: %s", run.CNI.Name, run.CNI.Version, probe, err, fix)
}
