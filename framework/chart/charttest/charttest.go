// Package charttest finds the real Helm charts tests render (never copied
// into the repository) and serves them as an https chart repository.
package charttest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvSharedCharts names a folder holding the real charts and their index.yaml.
const EnvSharedCharts = "HYBRIDCNI_SHARED_CHARTS"

// Find returns the shared charts folder: $HYBRIDCNI_SHARED_CHARTS, else
// ../shared/charts next to the repository root (found by walking up from
// this package to go.mod). The reason is set when nothing is found.
func Find() (dir, reason string) {
	if env := os.Getenv(EnvSharedCharts); env != "" {
		if hasIndex(env) {
			return env, ""
		}
		return "", EnvSharedCharts + "=" + env + " has no index.yaml"
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", "cannot locate the source tree"
	}
	for d := filepath.Dir(file); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir := filepath.Join(filepath.Dir(d), "shared", "charts")
			if hasIndex(dir) {
				return dir, ""
			}
			return "", "no real charts at " + dir + " (set " + EnvSharedCharts + ")"
		}
		if filepath.Dir(d) == d {
			return "", "no go.mod above " + file
		}
	}
}

// Dir returns the shared charts folder or skips the test with a one-line reason.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, reason := Find()
	if dir == "" {
		tb.Skip("unit tier: skipped: real charts not found: " + reason)
	}
	return dir
}

// ServeTLS serves dir (index.yaml and chart archives) over https on
// loopback until the test ends. Use the server's Client().Transport to trust it.
func ServeTLS(tb testing.TB, dir string) *httptest.Server {
	tb.Helper()
	srv := httptest.NewTLSServer(http.FileServer(http.Dir(dir)))
	tb.Cleanup(srv.Close)
	return srv
}

func hasIndex(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "index.yaml"))
	return err == nil
}
