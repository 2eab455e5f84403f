// Command testsummary runs `go test -json` (or reads its output on stdin)
// and prints what a plain `go test` prints (ok and FAIL lines, each failed
// test's output with its --- FAIL line, build errors, panics), then a tier
// summary: for each test tier (unit, lab, API, Docker, kind), how many of
// its tests ran, failed and skipped, and why they skipped, and a final line
// "N passed, N failed, N skipped". Its exit status is non-zero when a test
// or build failed, when go test itself failed, or when a required tier
// (-require or HYBRIDCNI_REQUIRE_TIERS, e.g. "kind,api" or "all") did not
// run in full.
//
// Tiers come from the tests' own lines: a skip says "<tier> tier: skipped:
// <reason>" (older spellings such as "Docker tier skipped: ..." and "API
// tier: ..." are read too), and the tier helpers log "<tier> tier: running"
// when a test proceeds. A test with neither (nor an ancestor with one) is a
// unit test.
//
//	go run ./hack/testsummary -- -count=1 ./...
//	go test -json ./... | go run ./hack/testsummary
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

func main() {
	require := flag.String("require", os.Getenv("HYBRIDCNI_REQUIRE_TIERS"),
		"comma-separated tiers that must run in full (unit, lab, api, docker, kind, or all); default $HYBRIDCNI_REQUIRE_TIERS")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: testsummary [-require tiers] [-- go test flags and packages]   (or: go test -json ... | testsummary)")
		flag.PrintDefaults()
	}
	flag.Parse()
	req, err := ParseTiers(*require)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	os.Exit(run(flag.Args(), req, os.Stdin, os.Stdout, os.Stderr))
}

// run summarises `go test -json args` (stdin when args is empty) and
// returns the exit status.
func run(args []string, require []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := NewSummary(stdout)
	if len(args) == 0 {
		s.Read(stdin)
		return s.Finish(require, 0)
	}
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.Command(goBin, append([]string{"test", "-json"}, args...)...)
	cmd.Stderr = stderr
	cmd.Stdin = stdin
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testsummary: start go test:", err)
		return 2
	}
	s.Read(out)
	code := 0
	if err := cmd.Wait(); err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
		if s.failed == 0 && len(s.noBuild) == 0 {
			fmt.Fprintf(stdout, "go test: %v\n", err)
		}
	}
	return s.Finish(require, code)
}

// ParseTiers reads a comma-separated tier list ("kind,api", "all").
func ParseTiers(list string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(list, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch {
		case f == "":
		case f == "all":
			return append([]string(nil), Tiers...), nil
		case tierIndex(f) >= 0:
			out = append(out, Tiers[tierIndex(f)])
		default:
			return nil, fmt.Errorf("unknown tier %q in the required tiers (want some of %s, or all)", f, strings.Join(Tiers, ", "))
		}
	}
	return out, nil
}
