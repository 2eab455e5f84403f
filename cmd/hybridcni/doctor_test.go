package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/topologies/doctor"
)

// With no engine, doctor reports the blocker with its fix and exits 1;
// the machine checks still run.
func TestDoctorWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv(doctor.OfflineEnv, "1")
	var out, errOut bytes.Buffer
	code := execute([]string{"doctor", "--no-cni", "-o", "json"}, &out, &errOut)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1: %s", code, errOut.String())
	}
	var rep doctor.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	checks := map[string]doctor.Finding{}
	for _, f := range rep.Findings {
		checks[f.Check] = f
	}
	if f := checks["docker-engine"]; f.Severity != doctor.Blocker || !strings.Contains(f.Message, "/nonexistent/docker.sock") || !strings.Contains(f.Fix, "docker-up.sh") {
		t.Errorf("docker-engine finding = %+v", f)
	}
	for _, c := range []string{"kernel-vxlan", "kernel-packet-filter", "memory", "disk", "cgroups"} {
		if _, ok := checks[c]; !ok {
			t.Errorf("no %s finding in %+v", c, rep.Findings)
		}
	}
	if !strings.Contains(errOut.String(), "docker-engine: no Docker engine answers") {
		t.Errorf("stderr lacks the blocker: %s", errOut.String())
	}
}
