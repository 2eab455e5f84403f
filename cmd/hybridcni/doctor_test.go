package main

import (
	"bytes"
	"encoding/json"
	"errors"
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

// TestDoctorTableFits100Columns: long findings and fixes wrap beside their
// check, and the error after the table names the blockers, not every finding again.
func TestDoctorTableFits100Columns(t *testing.T) {
	long := strings.Repeat("a finding that goes on and on about what is missing ", 6)
	rep := doctor.Report{Findings: []doctor.Finding{
		{Check: "docker-engine", Severity: doctor.Blocker, Message: long, Fix: "run hack/docker-up.sh, then " + long},
		{Check: "memory", Severity: doctor.OK, Message: "7.6 GiB"},
	}}
	var out bytes.Buffer
	writeDoctorTable(&out, rep, doctorWidth)
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if n := len([]rune(l)); n > doctorWidth {
			t.Errorf("line of %d columns: %q", n, l)
		}
	}
	if !strings.Contains(out.String(), "fix: run hack/docker-up.sh") {
		t.Errorf("table lacks the fix:\n%s", out.String())
	}
	var be *doctor.BlockedError
	if err := rep.Err(); err != nil && errors.As(err, &be) {
		msg := shortBlocked{be}.Error()
		if strings.Contains(msg, "on and on") || !strings.Contains(msg, "docker-engine") {
			t.Errorf("final line repeats the finding or lacks the check: %s", msg)
		}
	} else {
		t.Fatalf("no blocker error: %v", err)
	}
}
