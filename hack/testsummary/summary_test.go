package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func summarise(t *testing.T, file string, require ...string) (string, int) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	s := NewSummary(&out)
	s.Read(f)
	code := s.Finish(require, 0)
	return out.String(), code
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
}

// Recorded `go test -json` of four packages: one passes with tier skips,
// one has a failing subtest, one panics, one does not build.
func TestSummaryOfFailuresPanicAndBuildError(t *testing.T) {
	out, code := summarise(t, "testdata/mixed.json")
	if code == 0 {
		t.Fatalf("exit 0 with a failing test, a panic and a build error:\n%s", out)
	}
	wantLines(t, out,
		// the build error, as go test prints it
		"broken/broken_test.go:5:28: undefined: undefinedThing",
		"FAIL\texample.com/ts/broken [build failed]",
		// the failed test with its output, then its subtest's
		"--- FAIL: TestBroken (0.00s)\n    bad_test.go:7: API tier: running\n--- FAIL: TestBroken/wrong (0.00s)\n    bad_test.go:9: readiness: got 3 problems, want 4",
		"FAIL\texample.com/ts/bad",
		// the panic with its trace
		"--- FAIL: TestPanics (0.00s)\npanic: assignment to entry in nil map",
		"panics_test.go:8",
		"FAIL\texample.com/ts/panics",
		"ok  \texample.com/ts/good",
		// the tiers
		"Test tiers:",
		"FAIL: 1 package(s) did not build",
	)
	if !strings.HasSuffix(out, "6 passed, 3 failed, 6 skipped\n") {
		t.Errorf("the last line is not the count:\n%s", out)
	}
	// Passing tests print nothing of their own, as without -v.
	if strings.Contains(out, "--- PASS") || strings.Contains(out, "=== RUN") || strings.Contains(out, "lab tier: running") {
		t.Errorf("passing tests' lines printed:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "Docker", "kind":
			if f[1] != "SKIPPED" {
				t.Errorf("tier line %q: want SKIPPED", l)
			}
		case "lab":
			if !strings.HasPrefix(strings.Join(f[1:], " "), "ran in part  2 passed, 0 failed, 1 skipped: BIRD not installed") &&
				!strings.HasPrefix(strings.Join(f[1:], " "), "ran in part 2 passed, 0 failed, 1 skipped: BIRD not installed") {
				t.Errorf("tier line %q", l)
			}
		case "API":
			if f[1] != "ran" {
				t.Errorf("tier line %q: a failing API-tier test ran", l)
			}
		}
	}
}

// Skips say per tier why; a required tier that skipped fails the run.
func TestSummaryTiersAndRequiredTiers(t *testing.T) {
	out, code := summarise(t, "testdata/skips.json")
	if code != 0 {
		t.Fatalf("exit %d for a package whose tests pass or skip:\n%s", code, out)
	}
	wantLines(t, out,
		"unit    ran",
		"1 skipped: real charts not found: set HYBRIDCNI_SHARED_CHARTS",
		"lab     ran in part  2 passed, 0 failed, 1 skipped: BIRD not installed (Debian package bird)",
		"API     SKIPPED      0 passed, 0 failed, 1 skipped: (-short or HYBRIDCNI_UNIT_ONLY)",
		"Docker  SKIPPED      0 passed, 0 failed, 1 skipped: no engine at /var/run/docker.sock",
		`kind    SKIPPED      0 passed, 0 failed, 2 skipped: no node image "hybridcni/node:v1.37.2" (make node-image) (2 tests)`,
	)
	if !strings.HasSuffix(out, "3 passed, 0 failed, 6 skipped\n") {
		t.Errorf("the last line is not the count:\n%s", out)
	}
	req, err := ParseTiers("kind, API")
	if err != nil {
		t.Fatal(err)
	}
	out, code = summarise(t, "testdata/skips.json", req...)
	if code == 0 {
		t.Fatalf("required kind and API tiers skipped, yet exit 0:\n%s", out)
	}
	wantLines(t, out,
		`FAIL: required by HYBRIDCNI_REQUIRE_TIERS: kind tier did not run: no node image "hybridcni/node:v1.37.2" (make node-image) (2 tests)`,
		"FAIL: required by HYBRIDCNI_REQUIRE_TIERS: API tier did not run")
	// A tier that ran only in part fails too when required.
	if out, code = summarise(t, "testdata/skips.json", "lab"); code == 0 || !strings.Contains(out, "lab tier skipped 1 test(s): BIRD not installed") {
		t.Fatalf("lab required, one lab test skipped: exit %d\n%s", code, out)
	}
	if _, code = summarise(t, "testdata/skips.json", "unit"); code != 0 {
		t.Fatal("the unit tier ran, yet requiring it failed")
	}
	if all, _ := ParseTiers("all"); len(all) != 5 {
		t.Fatalf("all = %v", all)
	}
	if _, err := ParseTiers("kind,e2e"); err == nil || !strings.Contains(err.Error(), `unknown tier "e2e"`) {
		t.Fatalf("unknown tier: %v", err)
	}
}

// Nothing read is a failure, not an empty success; go test's own exit
// status wins.
func TestSummaryEmptyInputAndGoTestStatus(t *testing.T) {
	var out bytes.Buffer
	s := NewSummary(&out)
	s.Read(strings.NewReader(""))
	if code := s.Finish(nil, 0); code == 0 || !strings.Contains(out.String(), "no test output was read") {
		t.Fatalf("empty input: exit %d\n%s", code, out.String())
	}
	f, err := os.Open("testdata/skips.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s = NewSummary(&out)
	s.Read(f)
	if code := s.Finish(nil, 2); code != 2 {
		t.Fatalf("go test exited 2, summary exit %d", code)
	}
	// A line that is not JSON (go test's own error) is printed and counts.
	out.Reset()
	s = NewSummary(&out)
	s.Read(strings.NewReader("FAIL\texample.com/x [setup failed]\n"))
	if code := s.Finish(nil, 0); code == 0 || !strings.Contains(out.String(), "[setup failed]") {
		t.Fatalf("setup failure: exit %d\n%s", code, out.String())
	}
}
