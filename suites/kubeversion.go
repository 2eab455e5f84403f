package suites

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/report"
)

// kubeVersions are the server versions the runs' clusters reported, by run
// name (set once each cluster is up).
var kubeVersions struct {
	sync.Mutex
	m map[string]string
}

// recordKubernetes asks the run's cluster for its version; the JUnit file
// records it (writeKubernetesVersions). A cluster that does not answer is
// noted on log and leaves the requested version in the report.
func recordKubernetes(ctx context.Context, run string, kube kubernetes.Interface, log io.Writer) {
	if kube == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := discovery.ToServerVersionInterfaceWithContext(kube.Discovery()).ServerVersionWithContext(ctx)
	if err != nil {
		fmt.Fprintf(log, "the cluster of %s did not tell its Kubernetes version (%v); the report shows the requested one\n", run, err)
		return
	}
	kubeVersions.Lock()
	defer kubeVersions.Unlock()
	if kubeVersions.m == nil {
		kubeVersions.m = map[string]string{}
	}
	kubeVersions.m[run] = v.GitVersion
}

// kubernetesProperties are the testsuite properties of the runs'
// Kubernetes versions: each run's requested version (--kubernetes-version,
// kubernetes.version), and the server's where its cluster was reached.
func kubernetesProperties(runs []config.Run, served map[string]string) []reporters.JUnitProperty {
	var out []reporters.JUnitProperty
	for _, r := range runs {
		if r.Kubernetes.Version != "" {
			out = append(out, reporters.JUnitProperty{Name: report.KubernetesRequestedProperty + ":" + r.Name, Value: r.Kubernetes.Version})
		}
		if v := served[r.Name]; v != "" {
			out = append(out, reporters.JUnitProperty{Name: report.KubernetesProperty + ":" + r.Name, Value: v})
		}
	}
	return out
}

// writeKubernetesVersions adds the runs' Kubernetes versions to the JUnit
// file at path.
func writeKubernetesVersions(path string, runs []config.Run) error {
	kubeVersions.Lock()
	served := make(map[string]string, len(kubeVersions.m))
	for k, v := range kubeVersions.m {
		served[k] = v
	}
	kubeVersions.Unlock()
	props := kubernetesProperties(runs, served)
	if len(props) == 0 {
		return nil
	}
	return report.SetSuiteProperties(path, props...)
}
