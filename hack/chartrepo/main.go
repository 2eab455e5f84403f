// Command chartrepo packages a chart folder into a Helm repository folder
// and rewrites the folder's index.yaml, so `--chart-repo FOLDER` finds it
// beside the charts packaged before:
//
//	chartrepo CHART_DIR REPO_DIR
//
// hack/cilium-image.sh uses it for the chart in each Cilium module it builds.
package main

import (
	"fmt"
	"os"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: chartrepo CHART_DIR REPO_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "chartrepo:", err)
		os.Exit(1)
	}
}

func run(chartDir, repoDir string) error {
	c, err := loader.LoadDir(chartDir)
	if err != nil {
		return fmt.Errorf("load %s: %w", chartDir, err)
	}
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		return err
	}
	archive, err := chartutil.Save(c, repoDir)
	if err != nil {
		return fmt.Errorf("package %s: %w", chartDir, err)
	}
	idx, err := repo.IndexDirectory(repoDir, "")
	if err != nil {
		return fmt.Errorf("index %s: %w", repoDir, err)
	}
	idx.SortEntries()
	if err := idx.WriteFile(repoDir+"/index.yaml", 0o644); err != nil {
		return err
	}
	fmt.Println(archive)
	return nil
}
