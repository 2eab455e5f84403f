package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const junitSample = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="2" failures="1">
  <testsuite name="hybridcni" tests="2" failures="1">
    <testcase name="[It] installs [cni:cilium, version:1.16.19, feature:install]" classname="hybridcni" status="passed" time="2.5"></testcase>
    <testcase name="[It] advertises pod CIDRs [cni:cilium, version:1.16.19, feature:bgp]" classname="hybridcni" status="failed" time="1">
      <failure message="no route for 10.85.0.0/25" type="failed"></failure>
    </testcase>
  </testsuite>
</testsuites>`

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "junit.xml")
	os.WriteFile(in, []byte(junitSample), 0o644)
	html := filepath.Join(dir, "matrix.html")
	var out, errOut bytes.Buffer
	if code := execute([]string{"report", in, "--html", html}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "| Lifecycle: install | ✅ PASS 1, 2.5s |") || !strings.Contains(out.String(), "❌ FAIL 1/1") {
		t.Errorf("markdown:\n%s", out.String())
	}
	if page, err := os.ReadFile(html); err != nil || !strings.Contains(string(page), "no route for 10.85.0.0/25") {
		t.Errorf("html page: %v", err)
	}
	if code := execute([]string{"report", in, "--strict"}, &out, &errOut); code != exitFailure {
		t.Errorf("--strict with a failed spec exits %d, want 1", code)
	}
	errOut.Reset()
	if code := execute([]string{"report", filepath.Join(dir, "missing.xml")}, &out, &errOut); code != exitInvalid || !strings.Contains(errOut.String(), "missing.xml") {
		t.Errorf("missing input exits %d (%s), want 2 naming the file", code, errOut.String())
	}
	if code := execute([]string{"report"}, &out, &errOut); code != exitInvalid {
		t.Errorf("no arguments exits %d, want 2", code)
	}
}
