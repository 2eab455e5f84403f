package main

import (
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/repo"
)

func writeChart(t *testing.T, dir, version string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	chart := "apiVersion: v2\nname: demo\nversion: " + version + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte(chart), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Two versions packaged one after the other are both in the index.
func TestRunPackagesAndIndexesBesideEarlierCharts(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	for _, v := range []string{"1.16.19", "1.17.0"} {
		writeChart(t, filepath.Join(src, v), v)
		if err := run(filepath.Join(src, v), out); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := repo.LoadIndexFile(filepath.Join(out, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.16.19", "1.17.0"} {
		if _, err := idx.Get("demo", v); err != nil {
			t.Errorf("index lacks demo %s: %v", v, err)
		}
		if _, err := os.Stat(filepath.Join(out, "demo-"+v+".tgz")); err != nil {
			t.Error(err)
		}
	}
	if err := run(filepath.Join(src, "missing"), out); err == nil {
		t.Error("a missing chart folder was packaged")
	}
}
