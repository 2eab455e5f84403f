package probe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/lab"
	"github.com/hybridcni/hybridcni/framework/probe"
)

// TestLabCLI runs `hybridcni echo` and `hybridcni probe` as processes in two
// namespaces, as a user would from a shell: one JSON line, exit 0 or 1, and
// the echo server stops cleanly on SIGTERM.
func TestLabCLI(t *testing.T) {
	requireLabTools(t)
	l := lab.ForTest(t)
	srv, cli := mustNS(t, l, "srv"), mustNS(t, l, "cli")
	must(t, lab.Veth(lab.End{NS: srv, Name: "eth0", Addrs: []string{"10.99.8.1/24"}},
		lab.End{NS: cli, Name: "eth0", Addrs: []string{"10.99.8.2/24"}}))
	echoProc := startEchoProcess(t, srv, "srv")
	place := probe.InNetNS(cli, cliBin(), cliEnv)

	run := func(args ...string) (int, probe.Result, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		code, err := place.Exec(ctx, append(place.Command(), append([]string{"probe"}, args...)...),
			probe.Stdio{Stdout: &out, Stderr: &errOut})
		must(t, err)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 1 {
			t.Fatalf("probe %v printed %d lines, want one line of JSON:\n%s", args, len(lines), out.String())
		}
		var r probe.Result
		if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
			t.Fatalf("probe %v: not JSON: %q", args, lines[0])
		}
		return code, r, errOut.String()
	}

	code, r, _ := run("--target", "http://10.99.8.1:8080/clientip", "--expect-source", "10.99.8.2")
	if code != 0 || !r.Pass || r.SourceIP != "10.99.8.2" || !strings.HasPrefix(r.LocalAddr, "10.99.8.2:") {
		t.Fatalf("good probe: exit %d %+v", code, r)
	}
	code, r, stderr := run("--target", "udp://10.99.8.1:9000", "--expect-source", "10.99.8.9")
	if code != 1 || r.Pass || r.Reason != "the target saw source 10.99.8.2, want 10.99.8.9" || !strings.Contains(stderr, r.Reason) {
		t.Fatalf("wrong source: exit %d %+v stderr %q", code, r, stderr)
	}
	code, r, _ = run("--target", "tcp://10.99.8.1:8081", "--expect", "failure")
	if code != 0 || !r.Pass || r.Error != "connection refused" {
		t.Fatalf("expected failure: exit %d %+v", code, r)
	}

	// The meter from a shell: a budget it cannot meet exits 1 naming the figure.
	var out, errOut bytes.Buffer
	mctx, mcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer mcancel()
	code, err := place.Exec(mctx, append(place.Command(), "probe", "meter", "--target", "udp://10.99.8.1:9999",
		"--duration", "200ms", "--reply-timeout", "100ms", "--max-loss", "1"), probe.Stdio{Stdout: &out, Stderr: &errOut})
	must(t, err)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var mr probe.MeterResult
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &mr) != nil || mr.Sent == 0 || mr.Lost != mr.Sent {
		t.Fatalf("meter to a closed port printed %q, want a started line and a result with every probe lost", out.String())
	}
	if code != 1 || !strings.Contains(errOut.String(), "loss 100.00%") || !strings.Contains(errOut.String(), "exceeds the budget of 1.00%") {
		t.Fatalf("meter over budget: exit %d, stderr %q", code, errOut.String())
	}

	// SIGTERM: the echo server stops gracefully (exit 0) and stops answering.
	must(t, echoProc.Signal(syscall.SIGTERM))
	select {
	case <-echoProc.Done():
		if err := echoProc.Wait(); err != nil {
			t.Fatalf("hybridcni echo after SIGTERM: %v, want a clean exit", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hybridcni echo still running 10s after SIGTERM")
	}
	code, r, _ = run("--target", "http://10.99.8.1:8080/healthz")
	if code != 1 || r.Pass || r.Error != "connection refused" {
		t.Fatalf("after echo stopped: exit %d %+v", code, r)
	}
}
