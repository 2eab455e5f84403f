package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/nodeimage/nodeimagetest"
	"github.com/hybridcni/hybridcni/internal/testlock"
)

// The offline matrix's --parallel: the two fresh entries of the oldest
// versions (cilium-1-16-19-bgp-nomasq, cilium-1-17-0-bgp-nomasq, on the
// node image here) one after the other, then both at once, side by side.
// On 2 cores (2026-12-05): 9 min 49 s against 7 min 13 s, ratio 1.36,
// every check passing in both.
func BenchmarkOfflineMatrixParallel(b *testing.B) {
	testlock.Exclusive(b, "kind-tier")
	env := nodeimagetest.Require(b)
	versions := []string{cilium.OfflineVersion, cilium.OfflineUpgradeTo}
	for _, v := range versions {
		for _, ref := range cilium.OfflineImages(v) {
			if ok, err := env.Docker.ImageExists(b.Context(), ref); err != nil || !ok {
				b.Skipf("image %s is absent: run `make cilium-images`", ref)
			}
		}
	}
	matrix := offlineMatrixFile(b)
	var entries []string
	for _, v := range versions {
		entries = append(entries, "cilium-"+strings.ReplaceAll(v, ".", "-")+"-bgp-nomasq")
	}
	// The entries run on the matrix's first Kubernetes version, whose node
	// image is the one built here under the same name.
	nodeImage := strings.Split(env.Image, ":")[0] + ":v{kubernetes}"
	for i := 0; i < b.N; i++ {
		var took [2]time.Duration
		for j, parallel := range []string{"1", "2"} {
			results := keptResults(b)
			start := time.Now()
			out, code := cli(b, 60*time.Minute, "matrix", "-f", matrix, "--only", strings.Join(entries, ","),
				"--node-image", nodeImage, "--parallel", parallel, "--results", results)
			took[j] = time.Since(start)
			if code != 0 {
				fmt.Printf("matrix --parallel %s failed (exit %d):\n%s\n", parallel, code, tail(out, 20))
				keepFailedRun(b, results)
			}
		}
		ratio := took[0].Seconds() / took[1].Seconds()
		b.ReportMetric(took[0].Seconds(), "s/parallel-1")
		b.ReportMetric(took[1].Seconds(), "s/parallel-2")
		b.ReportMetric(ratio, "speedup")
		fmt.Printf("offline matrix, %s: --parallel 1 %s, --parallel 2 %s: %.2f times as fast\n",
			strings.Join(entries, " and "), took[0].Round(time.Second), took[1].Round(time.Second), ratio)
	}
}

// offlineMatrixFile is fixtures/matrix/offline.yaml with the chart folder
// of hack/cilium-image.sh and the values file's absolute path, as make
// e2e-offline-matrix writes it.
func offlineMatrixFile(b *testing.B) string {
	charts := filepath.Join(cacheRoot(b), cilium.OfflineChartDir)
	if _, err := os.Stat(filepath.Join(charts, "index.yaml")); err != nil {
		b.Skipf("no Cilium charts at %s: run `make cilium-images`", charts)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "matrix", "offline.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	s := strings.ReplaceAll(string(raw), "OFFLINE_CILIUM_CHARTS", charts)
	s = strings.ReplaceAll(s, cilium.OfflineValuesFile, offlineValues(b))
	out := filepath.Join(b.TempDir(), "offline.yaml")
	if err := os.WriteFile(out, []byte(s), 0o644); err != nil {
		b.Fatal(err)
	}
	return out
}
