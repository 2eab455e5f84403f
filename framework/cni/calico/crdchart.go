package calico

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
)

// From Calico 3.32 the tigera-operator chart has no crds/ folder: the
// operator's (operator.tigera.io) and Calico's CRDs ship as one of two CRD
// charts of the same version, which must be applied before the operator
// chart's Installation can be created. Both hold the same operator.tigera.io
// CRDs; they differ in the group that stores Calico's own resources:
//
//   - crd.projectcalico.org.v1: Calico's resources as crd.projectcalico.org/v1
//     CRDs, and projectcalico.org/v3 served by calico-apiserver (the chart's
//     APIServer). This is the layout every release before 3.32 installs,
//     the one the guide (written for 3.29) describes, with calico-apiserver
//     in its "verify" list.
//   - projectcalico.org.v3: Calico's resources directly as projectcalico.org/v3
//     CRDs, no calico-apiserver; it also carries MutatingAdmissionPolicies
//     (admissionregistration.k8s.io/v1beta1, a beta API clusters do not serve
//     by default).
//
// The 3.32 operator and Calico choose their mode from API discovery
// (libcalico-go UsingV3CRDs): projectcalico.org/v3 CRDs only when the
// projectcalico.org group is served and crd.projectcalico.org is not. So the
// two charts exclude each other on one cluster, and moving from one to the
// other is a datastore migration, not an upgrade.
//
// The rule, used by install, upgrade and render alike (CRDChart):
//   - a cluster already running Calico keeps the group it stores Calico's
//     resources in: crd.projectcalico.org.v1 after 3.29-3.31 (whose charts
//     install crd.projectcalico.org/v1 CRDs), projectcalico.org.v3 only when
//     Calico already runs on projectcalico.org/v3 CRDs;
//   - a cluster without Calico, and an offline render, get
//     crd.projectcalico.org.v1: the guide's layout, the same cluster a
//     3.30 -> 3.32 upgrade ends in, and installable on clusters that do not
//     serve the beta admission API. The guide's BGPPeer and BGPConfiguration
//     stay projectcalico.org/v3 objects there (served by calico-apiserver);
//     until calico-apiserver runs, the driver applies them through the
//     crd.projectcalico.org/v1 CRDs Calico reads (BGPAPIVersion).
const (
	CRDChartV1 = "crd.projectcalico.org.v1"
	CRDChartV3 = "projectcalico.org.v3"
)

// CRDChartNames are Calico's CRD charts.
var CRDChartNames = []string{CRDChartV1, CRDChartV3}

func init() {
	// Offline render and fresh installs: no cluster to ask.
	chart.RegisterCRDChart(ChartName, func(string) string { return CRDChartV1 })
}

// Layouts of Calico's resources on a cluster (CalicoLayout).
const (
	LayoutNone = ""   // no Calico CRDs
	LayoutV1   = "v1" // crd.projectcalico.org/v1 CRDs (with or without calico-apiserver)
	LayoutV3   = "v3" // projectcalico.org/v3 CRDs, no crd.projectcalico.org
)

// Layout says where c stores Calico's resources, by the CRDs it has
// (bgppeers stands for all of them), as Calico's own discovery decides.
func Layout(ctx context.Context, c *cni.Cluster) (string, error) {
	has := func(name string) (bool, error) {
		_, err := c.Dynamic.Resource(cni.CRDGVR).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	v1, err := has("bgppeers.crd.projectcalico.org")
	if err != nil {
		return "", fmt.Errorf("look up Calico's CRDs: %w", err)
	}
	if v1 {
		return LayoutV1, nil
	}
	v3, err := has("bgppeers.projectcalico.org")
	if err != nil {
		return "", fmt.Errorf("look up Calico's CRDs: %w", err)
	}
	if v3 {
		return LayoutV3, nil
	}
	return LayoutNone, nil
}

// CRDChart is the CRD chart ch needs on a cluster whose Calico layout is
// layout (Layout; LayoutNone for a fresh install or an offline render): ""
// when ch carries its CRDs in crds/ (before 3.32).
func CRDChart(ch *chart.Chart, layout string) string {
	name := chart.CRDChartFor(ch)
	if name != "" && layout == LayoutV3 {
		return CRDChartV3
	}
	return name
}

// CRDObjects are the objects to apply before ch installs or upgrades on a
// cluster with the given layout, CRDs first, and the CRD chart they come
// from ("" for ch's own crds/). kubeVersion is the cluster's.
func CRDObjects(ctx context.Context, src *chart.Source, ch *chart.Chart, layout, kubeVersion string) ([]*unstructured.Unstructured, string, error) {
	name := CRDChart(ch, layout)
	if name == "" {
		objs, err := ch.CRDObjects()
		return objs, "", err
	}
	if src == nil {
		src = ch.Source()
	}
	if src == nil {
		return nil, name, fmt.Errorf("%s %s ships its CRDs as chart %s, and no chart source is set", ChartName, ch.Version(), name)
	}
	objs, err := src.CRDChartObjects(ctx, name, ch.Version(), kubeVersion)
	if err != nil {
		return nil, name, fmt.Errorf("%s %s has no crds/ folder: its CRDs are chart %s: %w (fix: add %s %s to the chart source %s)",
			ChartName, ch.Version(), name, err, name, ch.Version(), src.Location)
	}
	return objs, name, nil
}
