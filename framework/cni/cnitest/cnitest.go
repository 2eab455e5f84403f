// Package cnitest holds fixtures for lifecycle tests on the API tier: the
// operator stand-ins of framework/cni/standin bound to a test's lifetime,
// CRD listing, logging and the tier's skip.
package cnitest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/standin"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// CRD is a fixture CRD with an open schema.
type CRD = standin.CRD

// CiliumOperatorCRDs are some of the CRDs the cilium-operator registers at
// start-up, with the BGP ones served as bgpVersions (first = storage).
func CiliumOperatorCRDs(bgpVersions ...string) []CRD {
	return standin.CiliumOperatorCRDs(bgpVersions...)
}

// RegisterCRDs creates crds and waits until they are Established.
func RegisterCRDs(t testing.TB, c *cni.Cluster, crds ...CRD) {
	t.Helper()
	if err := standin.RegisterCRDs(context.Background(), c, 30*time.Second, crds...); err != nil {
		t.Fatal(err)
	}
}

// CRDNames lists the CRDs whose name contains any of subs.
func CRDNames(t testing.TB, c *cni.Cluster, subs ...string) []string {
	t.Helper()
	list, err := c.Dynamic.Resource(cni.CRDGVR).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list CRDs: %v", err)
	}
	var out []string
	for _, u := range list.Items {
		for _, s := range subs {
			if strings.Contains(u.GetName(), s) {
				out = append(out, u.GetName())
				break
			}
		}
	}
	return out
}

// Logger writes driver progress to t.Log.
type Logger struct{ T testing.TB }

func (l Logger) Write(p []byte) (int, error) {
	l.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Sprint formats objects for failure messages.
func Sprint(objs []*unstructured.Unstructured) string {
	var s []string
	for _, o := range objs {
		s = append(s, fmt.Sprintf("%s %s", o.GetKind(), o.GetName()))
	}
	return strings.Join(s, ", ")
}

// Lifecycle starts the API tier with hybrid and cloud nodes (skipping tb in
// one line without the real charts or the tier) and returns its cluster,
// the real charts as a chart source and a valid run of cniName at version.
func Lifecycle(tb testing.TB, cniName string, hybrid, cloud int, version string) (*testenv.Env, *cni.Cluster, *chart.Source, config.Run) {
	tb.Helper()
	dir := charttest.Dir(tb)
	RequireAPITier(tb)
	env := testenv.StartT(tb, testenv.WithHybridNodes(hybrid), testenv.WithCloudNodes(cloud))
	c, err := cni.NewCluster(env.RESTConfig())
	if err != nil {
		tb.Fatal(err)
	}
	src, err := chart.NewSource(dir)
	if err != nil {
		tb.Fatal(err)
	}
	run := config.Default()
	run.CNI = config.CNI{Name: cniName, Version: version, ChartSource: dir}
	run.Nodes = config.Nodes{Hybrid: hybrid, Cloud: cloud}
	run.Complete()
	if err := run.Validate(); err != nil {
		tb.Fatal(err)
	}
	return env, c, src, run
}

// RequireAPITier skips t (one line) under -short or HYBRIDCNI_UNIT_ONLY, or
// when the API tier binaries are absent.
func RequireAPITier(t testing.TB) {
	t.Helper()
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		t.Skip("API tier: skipped: -short or HYBRIDCNI_UNIT_ONLY")
	}
	testenv.RequireBinaries(t)
}

// WantAll fails t unless err is an error that mentions every part.
func WantAll(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %q", parts)
	}
	t.Logf("reported: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error does not mention %q:\n%v", p, err)
		}
	}
}
