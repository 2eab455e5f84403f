package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Tiers in the order the summary lists them (lower case names).
var Tiers = []string{"unit", "lab", "api", "docker", "kind"}

// tierTitle is how the summary spells a tier.
var tierTitle = map[string]string{"unit": "unit", "lab": "lab", "api": "API", "docker": "Docker", "kind": "kind"}

func tierIndex(name string) int {
	for i, t := range Tiers {
		if t == name {
			return i
		}
	}
	return -1
}

// event is one line of `go test -json` (test2json).
type event struct {
	Time        time.Time
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string
	FailedBuild string
}

// tierRE finds a tier in a test's line: "lab tier: skipped: needs root",
// "Docker tier skipped: ...", "API tier: ...", "kind tier: running".
var tierRE = regexp.MustCompile(`(?i)\b(unit|lab|api|docker|kind) tier\b:?\s*(?:(skipped|running)\b:?\s*)?(.*)$`)

// logPrefixRE is the "file.go:12: " t.Log puts before each message.
var logPrefixRE = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

type test struct {
	pkg, name string
	lines     []string
	tier      string // from a tier line of its own
	reason    string // the skip reason
	tierSkip  bool   // skipped with a tier line: a prerequisite is missing
	result    string // pass, fail, skip, "" (did not finish)
}

// Summary follows a `go test -json` stream.
type Summary struct {
	out      io.Writer
	tests    map[string]*test // package + " " + name
	order    []string
	pkgFail  map[string]bool
	pkgCount int
	// counts
	passed, failed, skipped int
	noBuild                 map[string]bool // import paths that did not build
	otherFail               bool
}

// NewSummary writes go test's usual lines to out as it reads.
func NewSummary(out io.Writer) *Summary {
	return &Summary{out: out, tests: map[string]*test{}, pkgFail: map[string]bool{}, noBuild: map[string]bool{}}
}

// Read consumes a stream; lines that are not JSON are printed as they are.
func (s *Summary) Read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			txt := string(line)
			fmt.Fprintln(s.out, txt)
			if strings.HasPrefix(txt, "FAIL") || strings.Contains(txt, "[build failed]") || strings.Contains(txt, "[setup failed]") {
				s.otherFail = true
			}
			continue
		}
		s.handle(e)
	}
}

func (s *Summary) get(pkg, name string) *test {
	k := pkg + " " + name
	t := s.tests[k]
	if t == nil {
		t = &test{pkg: pkg, name: name}
		s.tests[k] = t
		s.order = append(s.order, k)
	}
	return t
}

func (s *Summary) handle(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.out, e.Output)
		return
	case "build-fail":
		s.noBuild[e.ImportPath] = true
		return
	}
	if e.Test == "" {
		switch e.Action {
		case "output":
			o := e.Output
			if o == "PASS\n" || strings.HasPrefix(o, "=== ") || strings.HasPrefix(o, "testing: warning: no tests to run") {
				return
			}
			fmt.Fprint(s.out, o)
		case "start":
			s.pkgCount++
		case "fail":
			s.pkgFail[e.Package] = true
			if e.FailedBuild != "" {
				s.noBuild[e.FailedBuild] = true
			}
			s.flushUnfinished(e.Package)
		case "pass", "skip":
			s.flushUnfinished(e.Package)
		}
		return
	}
	t := s.get(e.Package, e.Test)
	switch e.Action {
	case "output":
		o := strings.TrimRight(e.Output, "\n")
		if strings.HasPrefix(strings.TrimSpace(o), "=== ") {
			return
		}
		t.lines = append(t.lines, o)
		s.noteTier(t, o)
	case "pass", "fail", "skip":
		t.result = e.Action
		switch e.Action {
		case "pass":
			s.passed++
		case "fail":
			s.failed++
		case "skip":
			s.skipped++
			s.skipReason(t)
		}
		if !strings.Contains(e.Test, "/") && e.Action == "fail" {
			s.printFailed(e.Package, e.Test)
		}
	}
}

// noteTier reads a tier from one of a test's lines.
func (s *Summary) noteTier(t *test, line string) {
	msg := logPrefixRE.ReplaceAllString(line, "")
	msg = strings.TrimSpace(msg)
	if strings.HasPrefix(msg, "--- ") {
		return
	}
	if m := tierRE.FindStringSubmatch(msg); m != nil {
		t.tier = strings.ToLower(m[1])
	}
}

// skipReason takes the reason from the test's last message.
func (s *Summary) skipReason(t *test) {
	for i := len(t.lines) - 1; i >= 0; i-- {
		msg := strings.TrimSpace(logPrefixRE.ReplaceAllString(t.lines[i], ""))
		if msg == "" || strings.HasPrefix(msg, "--- ") || strings.HasPrefix(msg, "### SKIPPED") {
			continue
		}
		if m := tierRE.FindStringSubmatch(msg); m != nil && !strings.EqualFold(m[2], "running") {
			t.tier = strings.ToLower(m[1])
			t.tierSkip = true
			t.reason = strings.TrimSpace(m[3])
			if t.reason == "" {
				t.reason = msg
			}
			return
		}
		if t.reason == "" {
			t.reason = msg
		}
		// keep looking for a tier line above a plain reason only if the
		// test said nothing else: the reason is the last message.
		return
	}
}

// tierOf is a test's tier: its own, its nearest ancestor's, else unit.
func (s *Summary) tierOf(t *test) string {
	name := t.name
	for {
		if u := s.tests[t.pkg+" "+name]; u != nil && u.tier != "" {
			return u.tier
		}
		i := strings.LastIndex(name, "/")
		if i < 0 {
			return "unit"
		}
		name = name[:i]
	}
}

// printFailed prints a failed top-level test's lines and those of its
// failed subtests, as go test does without -v.
func (s *Summary) printFailed(pkg, top string) {
	for _, k := range s.order {
		t := s.tests[k]
		if t.pkg != pkg || (t.name != top && !strings.HasPrefix(t.name, top+"/")) {
			continue
		}
		if t.result != "fail" && t.name != top {
			continue
		}
		// The test's own --- FAIL line first, then what it logged.
		own := "--- FAIL: " + t.name + " "
		for _, l := range t.lines {
			if strings.HasPrefix(strings.TrimSpace(l), own) {
				fmt.Fprintln(s.out, l)
			}
		}
		for _, l := range t.lines {
			if !strings.HasPrefix(strings.TrimSpace(l), own) {
				fmt.Fprintln(s.out, l)
			}
		}
		t.lines = nil
	}
}

// flushUnfinished prints tests of a finished package that never ended (a
// panic or a timeout killed the binary under them).
func (s *Summary) flushUnfinished(pkg string) {
	for _, k := range s.order {
		t := s.tests[k]
		if t.pkg == pkg && t.result == "" {
			t.result = "fail"
			s.failed++
			fmt.Fprintf(s.out, "--- FAIL: %s (did not finish)\n", t.name)
			for _, l := range t.lines {
				fmt.Fprintln(s.out, l)
			}
			t.lines = nil
		}
	}
}

// TierStat is one tier's line of the summary.
type TierStat struct {
	Tier                    string
	Passed, Failed, Skipped int
	// TierSkips counts skips for a missing prerequisite; Reasons lists
	// every distinct skip reason with how many tests gave it.
	TierSkips int
	Reasons   map[string]int
}

// Ran is whether at least one test of the tier ran.
func (t TierStat) Ran() bool { return t.Passed+t.Failed > 0 }

// Stats is the per-tier tally.
func (s *Summary) Stats() map[string]*TierStat {
	st := map[string]*TierStat{}
	for _, name := range Tiers {
		st[name] = &TierStat{Tier: name, Reasons: map[string]int{}}
	}
	for _, k := range s.order {
		t := s.tests[k]
		tier := s.tierOf(t)
		ts := st[tier]
		switch t.result {
		case "pass":
			ts.Passed++
		case "fail":
			ts.Failed++
		case "skip":
			ts.Skipped++
			// A skip in a tier that needs something (root, tools, images)
			// means the tier did not run in full; a unit test counts only
			// when it says "unit tier: skipped".
			if t.tierSkip || tier != "unit" {
				ts.TierSkips++
			}
			r := t.reason
			if r == "" {
				r = "no reason given"
			}
			ts.Reasons[r]++
		}
	}
	return st
}

// Finish prints the tier summary and the final count line and returns the
// exit status: goTest (go test's own), else 1 on any failure or a required
// tier that did not run in full, else 0.
func (s *Summary) Finish(require []string, goTest int) int {
	st := s.Stats()
	fmt.Fprintln(s.out)
	fmt.Fprintln(s.out, "Test tiers:")
	w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	for _, name := range Tiers {
		t := st[name]
		state := "ran"
		switch {
		case !t.Ran() && t.Skipped > 0:
			state = "SKIPPED"
		case !t.Ran():
			state = "no tests"
		case t.TierSkips > 0:
			state = "ran in part"
		}
		why := ""
		if len(t.Reasons) > 0 {
			why = ": " + reasons(t.Reasons)
		}
		fmt.Fprintf(w, "  %s\t%s\t%d passed, %d failed, %d skipped%s\n", tierTitle[name], state, t.Passed, t.Failed, t.Skipped, why)
	}
	_ = w.Flush()
	code := goTest
	var missing []string
	for _, name := range require {
		t := st[name]
		switch {
		case !t.Ran():
			missing = append(missing, fmt.Sprintf("%s tier did not run%s", tierTitle[name], orNone(t)))
		case t.TierSkips > 0:
			missing = append(missing, fmt.Sprintf("%s tier skipped %d test(s)%s", tierTitle[name], t.TierSkips, orNone(t)))
		}
	}
	for _, m := range missing {
		fmt.Fprintf(s.out, "FAIL: required by HYBRIDCNI_REQUIRE_TIERS: %s\n", m)
	}
	if len(s.noBuild) > 0 {
		fmt.Fprintf(s.out, "FAIL: %d package(s) did not build\n", len(s.noBuild))
	}
	if code == 0 && (s.failed > 0 || len(s.noBuild) > 0 || len(s.pkgFail) > 0 || s.otherFail || len(missing) > 0) {
		code = 1
	}
	if code == 0 && s.pkgCount == 0 && s.passed+s.failed+s.skipped == 0 {
		fmt.Fprintln(s.out, "FAIL: no test output was read")
		code = 1
	}
	fmt.Fprintf(s.out, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	return code
}

func orNone(t *TierStat) string {
	if len(t.Reasons) == 0 {
		return " (no test of it was seen)"
	}
	return ": " + reasons(t.Reasons)
}

// reasons lists distinct reasons, most frequent first.
func reasons(m map[string]int) string {
	type rc struct {
		r string
		n int
	}
	var l []rc
	for r, n := range m {
		l = append(l, rc{r, n})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].n != l[j].n {
			return l[i].n > l[j].n
		}
		return l[i].r < l[j].r
	})
	var parts []string
	for i, x := range l {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more reason(s)", len(l)-3))
			break
		}
		p := x.r
		if len(p) > 160 {
			p = p[:160] + "..."
		}
		if x.n > 1 {
			p = fmt.Sprintf("%s (%d tests)", p, x.n)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}
