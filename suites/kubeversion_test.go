package suites

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/report"
)

// The JUnit file a run writes records the Kubernetes version as a
// testsuite property: the version the run's cluster reports (read from the
// cluster, not the flag), and the requested one, named as such, where no
// cluster answered; report reads each run's back.
func TestJUnitRecordsKubernetesVersion(t *testing.T) {
	kubeVersions.Lock()
	kubeVersions.m = nil
	kubeVersions.Unlock()
	ctx := t.Context()

	// The cluster of run "reached" runs 1.31.3 although 1.31.2 was asked for.
	reached := fake.NewClientset()
	reached.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.31.3"}
	recordKubernetes(ctx, "reached", reached, os.Stderr)
	// The cluster of run "silent" does not answer.
	silent := fake.NewClientset()
	silent.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	var log bytes.Buffer
	recordKubernetes(ctx, "silent", silent, &log)
	if !strings.Contains(log.String(), "silent") || !strings.Contains(log.String(), "connection refused") {
		t.Errorf("an unanswered version request is not logged: %q", log.String())
	}

	run := func(name, k8s string) config.Run {
		r := config.Default()
		r.Name, r.CNI.Name, r.CNI.Version, r.Kubernetes.Version = name, config.Cilium, "1.16.19", k8s
		return r
	}
	runs := []config.Run{run("reached", "1.31.2"), run("silent", "1.30.4"), run("never", "1.29.9")}

	// A JUnit file as Ginkgo writes it, one spec per run.
	rep := types.Report{SuiteDescription: "hybridcni", SuiteSucceeded: true}
	for _, r := range runs {
		rep.SpecReports = append(rep.SpecReports, types.SpecReport{LeafNodeType: types.NodeTypeIt, LeafNodeText: "installs",
			LeafNodeLabels: append(runLabels(r), "phase:install", "version:1.16.19", "feature:install"), State: types.SpecStatePassed, RunTime: time.Second})
	}
	path := filepath.Join(t.TempDir(), JUnitFile)
	if err := reporters.GenerateJUnitReport(rep, path); err != nil {
		t.Fatal(err)
	}
	if err := writeKubernetesVersions(path, runs); err != nil {
		t.Fatal(err)
	}

	raw, _ := os.ReadFile(path)
	for _, want := range []string{
		`<property name="kubernetes-version:reached" value="v1.31.3">`,
		`<property name="kubernetes-version-requested:silent" value="1.30.4">`,
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("junit.xml lacks %s", want)
		}
	}
	if bytes.Contains(raw, []byte(`kubernetes-version:silent`)) || bytes.Contains(raw, []byte(`kubernetes-version:never`)) {
		t.Error("a server version recorded for a run whose cluster did not answer")
	}
	rs, err := report.ReadJUnit(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rs {
		got[r.Run] = r.Kubernetes
	}
	want := map[string]string{"reached": "v1.31.3", "silent": report.KubernetesRequested("1.30.4"), "never": report.KubernetesRequested("1.29.9")}
	for r, v := range want {
		if got[r] != v {
			t.Errorf("run %s: Kubernetes %q, want %q", r, got[r], v)
		}
	}
	if m := report.Build(rs).Markdown(); !strings.Contains(m, "| Kubernetes | ") || !strings.Contains(m, " | v1.31.3 | ") {
		t.Errorf("the matrix's Kubernetes row:\n%s", m)
	}
}
