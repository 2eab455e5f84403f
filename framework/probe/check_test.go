package probe_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/probe"
)

// nowhere is a place that must never be asked to run anything.
type nowhere struct{ t *testing.T }

func (n nowhere) String() string    { return "nowhere" }
func (n nowhere) Command() []string { return []string{"/hybridcni"} }
func (n nowhere) Exec(context.Context, []string, probe.Stdio) (int, error) {
	n.t.Fatal("Exec called on a run that should not start any probe")
	return -1, nil
}

func TestNamesAndURLs(t *testing.T) {
	client := probe.Source{Place: nowhere{t}, Name: "client-a", IP: "10.100.0.5"}
	e := probe.ExpectSuccess("pod-to-pod/cross-node", client, probe.HTTPTarget("echo-b", "10.100.0.140", 8080, "/clientip"))
	if got, want := e.Name(), "pod-to-pod/cross-node: client-a (10.100.0.5) -> echo-b (10.100.0.140)"; got != want {
		t.Fatalf("name %q, want %q", got, want)
	}
	for tgt, want := range map[probe.Target]string{
		probe.HTTPTarget("e", "10.0.0.1", 80, ""): "http://10.0.0.1:80/",
		probe.TCPTarget("e", "10.0.0.1", 443):     "tcp://10.0.0.1:443",
		probe.UDPTarget("e", "10.0.0.1", 9000):    "udp://10.0.0.1:9000",
		probe.ICMPTarget("e", "10.0.0.1"):         "icmp://10.0.0.1",
		probe.TCPTarget("e", "fd00::1", 80):       "tcp://[fd00::1]:80",
	} {
		if got := tgt.URL(); got != want {
			t.Errorf("URL %q, want %q", got, want)
		}
	}
	m := probe.Masquerade(client, "192.168.10.11", probe.HTTPTarget("onprem", "192.168.50.10", 8080, "/clientip"), true)
	if m.Seen != "192.168.10.11" || m.Scenario != "pod-to-external/masquerade-on" {
		t.Fatalf("masquerade on: %+v", m)
	}
	m = probe.Masquerade(client, "192.168.10.11", probe.HTTPTarget("onprem", "192.168.50.10", 8080, "/clientip"), false)
	if m.Seen != "10.100.0.5" || m.Scenario != "pod-to-external/masquerade-off" {
		t.Fatalf("masquerade off: %+v", m)
	}
}

func TestDeclarationErrors(t *testing.T) {
	client := probe.Source{Place: nowhere{t}, Name: "client-a", IP: "10.100.0.5"}
	echo := probe.HTTPTarget("echo-b", "10.100.0.140", 8080, "/clientip")
	c := probe.NewCheck()
	if err := c.Expect(probe.ExpectSuccess("pod-to-pod/cross-node", client, echo)); err != nil {
		t.Fatal(err)
	}
	err := c.Expect(
		probe.ExpectSuccess("pod-to-pod/cross-node", client, echo),
		probe.ExpectSuccess("", client, echo),
		probe.ExpectSuccess("pod-to-pod/x", probe.Source{Name: "ghost"}, echo),
		probe.ExpectSuccess("pod-to-pod/y", client, probe.TCPTarget("echo-b", "10.100.0.140", 80), probe.WithSource("10.100.0.5", "")),
	)
	for _, want := range []string{
		"expectation declared twice: pod-to-pod/cross-node: client-a (10.100.0.5) -> echo-b (10.100.0.140) (http://10.100.0.140:8080/clientip)",
		"has no Scenario",
		"From.Place is nil",
		"expect-source: only the echo server reports the source it saw",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("declaration error %v lacks %q", err, want)
		}
	}
	// A cancelled run starts nothing: every declared expectation is NOT RUN
	// and reported, along with the declaration errors.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := c.Run(ctx)
	if _, _, notRun := rep.Counts(); notRun != 1 {
		t.Fatalf("%d NOT RUN, want 1", notRun)
	}
	for _, want := range []string{"expectation never ran: pod-to-pod/cross-node", "expectation declared twice"} {
		if !strings.Contains(rep.Err().Error(), want) {
			t.Errorf("report error lacks %q: %v", want, rep.Err())
		}
	}
	if !strings.Contains(rep.Table(), "NOT RUN  pod-to-pod/cross-node: client-a (10.100.0.5) -> echo-b (10.100.0.140)") {
		t.Errorf("table:\n%s", rep.Table())
	}
}

func TestCLIInvalidInputExits2(t *testing.T) {
	for _, args := range [][]string{
		{"probe"},
		{"probe", "--target", "gopher://10.0.0.1:70"},
		{"probe", "--target", "tcp://10.0.0.1:80", "--expect-source", "10.0.0.2"},
		{"probe", "meter", "--target", "http://10.0.0.1:80/"},
		{"echo", "--http-port", "70000"},
	} {
		if code := runCLI(args); code != 2 {
			t.Errorf("%v: exit %d, want 2 (invalid input)", args, code)
		}
	}
}
