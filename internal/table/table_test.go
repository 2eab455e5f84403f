package table

import (
	"strings"
	"testing"
)

func TestTableWritesTheStyleCheckAccepts(t *testing.T) {
	var b strings.Builder
	tb := New(&b, "name", "for", "local")
	tb.Row("hybridcni/echo:v1.2.3", "echo → workload", "present")
	tb.Row("quay.io/cilium/cilium:v1.16.19", "", "absent\twith a tab")
	tb.Row("x")
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME  ") || !strings.Contains(lines[2], " -  ") || !strings.Contains(lines[2], "absent with a tab") {
		t.Fatalf("table:\n%s", out)
	}
	if why := Check(out); why != "" {
		t.Errorf("the style check refuses the table's own output: %s\n%s", why, out)
	}
}

func TestCheckRefusesOtherStyles(t *testing.T) {
	for name, text := range map[string]string{
		"no header":         "hybridcni/echo:v1  echo\nhybridcni/router:v1  router\n",
		"lower-case header": "Image  For\nx  y\n",
		"one name a line":   "cilium-1-16-19\ncilium-1-17-0\n",
		"unaligned rows":    "IMAGE  FOR\nhybridcni/echo:v1 echo\n",
		"indented block":    "agent-affinity-removed\n  breaks: placement\n",
	} {
		if Check(text) == "" {
			t.Errorf("%s: accepted\n%s", name, text)
		}
	}
	if why := Check("NODE  ROLE\nw1    hybrid\n\nWORKLOAD  READY\ncilium    2/2\n"); why != "" {
		t.Errorf("two tables apart by a blank line: %s", why)
	}
}

// A table that fits a width wraps its last column beside the others, each
// paragraph on a line of its own, and the style check accepts it.
func TestFitWrapsTheLastColumn(t *testing.T) {
	var b strings.Builder
	tb := New(&b, "status", "check", "finding").Fit(60)
	long := strings.Repeat("a finding that goes on about what is missing ", 4)
	tb.Row("BLOCKER", "docker-engine", long+"\nfix: run hack/docker-up.sh")
	tb.Row("OK", "memory", "7.6 GiB")
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for _, l := range lines {
		if n := len([]rune(l)); n > 60 {
			t.Errorf("line of %d characters: %q", n, l)
		}
	}
	fix := strings.Repeat(" ", strings.Index(lines[0], "FINDING")) + "fix: run hack/docker-up.sh"
	if len(lines) < 5 || !strings.Contains(out, "\n"+fix+"\n") {
		t.Errorf("the finding did not wrap, or its fix is not on a line of its own beside the column:\n%s", out)
	}
	if why := Check(out); why != "" {
		t.Errorf("the style check refuses a wrapped table: %s\n%s", why, out)
	}
}
