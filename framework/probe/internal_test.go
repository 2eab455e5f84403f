package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
)

func recs(t0 time.Time, iv time.Duration, answered string) []record {
	out := make([]record, len(answered))
	for i, c := range answered {
		out[i] = record{sent: t0.Add(time.Duration(i) * iv), answered: c == '+'}
	}
	return out
}

func TestAnalyzeGaps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	iv := 20 * time.Millisecond
	for _, tc := range []struct {
		pattern string
		lost    int
		gapsMS  []float64
	}{
		{"++++++", 0, nil},
		{"++-+++", 1, []float64{20}},
		{"+---++--+", 5, []float64{60, 40}},
		{"---+", 3, []float64{60}},
		{"++---", 3, []float64{60}}, // lost to the end: last send + one interval
		{"", 0, nil},
	} {
		lost, gaps := analyze(recs(t0, iv, tc.pattern), iv)
		if lost != tc.lost || len(gaps) != len(tc.gapsMS) {
			t.Fatalf("%q: lost %d gaps %+v; want lost %d gaps %v", tc.pattern, lost, gaps, tc.lost, tc.gapsMS)
		}
		for i, g := range gaps {
			if g.MS != tc.gapsMS[i] || g.End.Sub(g.Start) != time.Duration(tc.gapsMS[i])*time.Millisecond {
				t.Errorf("%q gap %d: %+v, want %v ms", tc.pattern, i, g, tc.gapsMS[i])
			}
		}
	}
	// The window starts at the first lost probe's send time.
	_, gaps := analyze(recs(t0, iv, "+--+"), iv)
	if !gaps[0].Start.Equal(t0.Add(iv)) || !gaps[0].End.Equal(t0.Add(3*iv)) || gaps[0].Lost != 2 {
		t.Fatalf("window %+v", gaps[0])
	}
}

func TestBudget(t *testing.T) {
	r := MeterResult{Sent: 100, Lost: 10, LossPct: 10, LongestGapMS: 1500}
	// A zero Budget is the default (TestZeroBudgetIsTheDefaultNotAnythingGoes);
	// only explicitly unchecked fields check nothing.
	if err := (Budget{MaxGap: Unchecked, MaxLossPct: Unchecked}).Check("p", r); err != nil {
		t.Fatalf("an unchecked budget checks nothing, got %v", err)
	}
	if err := (Budget{MaxGap: 2 * time.Second, MaxLossPct: 15}).Check("p", r); err != nil {
		t.Fatalf("within budget: %v", err)
	}
	err := (Budget{MaxGap: time.Second, MaxLossPct: 1}).Check("pod-a -> echo-b", r)
	for _, want := range []string{"pod-a -> echo-b: longest gap 1500 ms exceeds the budget of 1s (10 probes lost of 100)",
		"pod-a -> echo-b: loss 10.00% (10 of 100 probes) exceeds the budget of 1.00%"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("budget error %v lacks %q", err, want)
		}
	}
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		r      Result
		pass   bool
		reason string
	}{
		{Result{Expect: Success, OK: true}, true, ""},
		{Result{Expect: Success, OK: false, Error: "connection refused"}, false, "no answer: connection refused"},
		{Result{Expect: Success, OK: true, SourceIP: "10.0.0.1", ExpectSource: "10.0.0.1"}, true, ""},
		{Result{Expect: Success, OK: true, SourceIP: "10.0.0.1", ExpectSource: "192.168.1.1"}, false, "the target saw source 10.0.0.1, want 192.168.1.1"},
		{Result{Expect: Success, OK: true, Seen: "garbage", ExpectSource: "192.168.1.1"}, false, `did not report a source address (answer "garbage"), want 192.168.1.1`},
		{Result{Expect: Success, OK: false, Error: "no reply within 1s", ExpectSource: "192.168.1.1"}, false, "wanted the target to see source 192.168.1.1"},
		{Result{Expect: Failure, OK: false}, true, ""},
		{Result{Expect: Failure, OK: true, SourceIP: "10.0.0.1"}, false, "must not (it saw source 10.0.0.1)"},
	} {
		r := tc.r
		judge(&r)
		// A passed failure expectation names the failure it accepted.
		if r.Pass != tc.pass || !strings.Contains(r.Reason, tc.reason) || (tc.pass && tc.r.Expect == Success && r.Reason != "") {
			t.Errorf("%+v: pass=%v reason=%q; want pass=%v reason containing %q", tc.r, r.Pass, r.Reason, tc.pass, tc.reason)
		}
	}
}

func TestSpecValidateNamesField(t *testing.T) {
	for _, tc := range []struct {
		s     Spec
		field string
	}{
		{Spec{}, "target"},
		{Spec{Target: "10.0.0.1:80"}, "target"},
		{Spec{Target: "ftp://10.0.0.1:21"}, "target"},
		{Spec{Target: "tcp://10.0.0.1"}, "target"},
		{Spec{Target: "tcp://10.0.0.1:99999"}, "target"},
		{Spec{Target: "icmp://10.0.0.1:7"}, "target"},
		{Spec{Target: "icmp://echo.example"}, "target"},
		{Spec{Target: "tcp://10.0.0.1:80", Expect: "maybe"}, "expect"},
		{Spec{Target: "tcp://10.0.0.1:80", ExpectSource: "10.0.0.2"}, "expect-source"},
		{Spec{Target: "http://10.0.0.1:80/healthz", ExpectSource: "10.0.0.2"}, "expect-source"},
		{Spec{Target: "http://10.0.0.1:80/clientip", ExpectSource: "node-ip"}, "expect-source"},
		{Spec{Target: "udp://10.0.0.1:9000", ExpectSource: "10.0.0.2", Expect: Failure}, "expect-source"},
		{Spec{Target: "udp://10.0.0.1:9000", Timeout: -time.Second}, "timeout"},
	} {
		err := tc.s.Validate()
		if f := config.Fields(err); len(f) != 1 || f[0] != tc.field {
			t.Errorf("%+v: error %v, want one naming %q", tc.s, err, tc.field)
		}
	}
	for _, ok := range []Spec{
		{Target: "http://10.0.0.1:8080/clientip", ExpectSource: "10.0.0.2"},
		{Target: "udp://10.0.0.1:9000", ExpectSource: "10.0.0.2"},
		{Target: "tcp://svc.default:443", Expect: Failure},
		{Target: "icmp://10.0.0.1"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

func TestMeterSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		s     MeterSpec
		field string
	}{
		{MeterSpec{Target: "http://10.0.0.1:80/"}, "target"},
		{MeterSpec{Target: "icmp://10.0.0.1"}, "target"},
		{MeterSpec{Target: "udp://10.0.0.1:9000", Rate: 5000}, "rate"},
		{MeterSpec{Target: "udp://10.0.0.1:9000", ReplyTimeout: -1}, "reply-timeout"},
	} {
		if f := config.Fields(tc.s.Validate()); len(f) != 1 || f[0] != tc.field {
			t.Errorf("%+v: want an error naming %q, got %v", tc.s, tc.field, tc.s.Validate())
		}
	}
}

func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{onLine: func(l string) { lines = append(lines, l) }}
	for _, chunk := range []string{`{"a":`, "1}\n{\"b\"", ":2}\npartial"} {
		_, _ = w.Write([]byte(chunk))
	}
	if len(lines) != 2 || lines[0] != `{"a":1}` || lines[1] != `{"b":2}` {
		t.Fatalf("lines %q", lines)
	}
	if w.String() != "{\"a\":1}\n{\"b\":2}\npartial" {
		t.Fatalf("kept %q", w.String())
	}
}

// Failure accepts any failure and names it; NoAnswer accepts only silence:
// a refusal, a reset or an HTTP status is an answer.
func TestJudgeNoAnswerAndNamedFailure(t *testing.T) {
	cases := []struct {
		expect  Outcome
		r       Result
		pass    bool
		reason  string
		noReply bool
	}{
		{Failure, Result{Error: "connection refused", Failure: FailRefused}, true, "failed as expected: connection refused", false},
		{Failure, Result{Error: "no reply within 2s", Failure: FailNoReply}, true, "failed as expected: no reply within 2s", true},
		{NoAnswer, Result{Error: "no reply within 2s", Failure: FailNoReply}, true, "failed as expected: no reply within 2s", true},
		{NoAnswer, Result{Error: "connection refused", Failure: FailRefused}, false, "but connection refused: something on the path answered", false},
		{NoAnswer, Result{Error: "HTTP status 404", Failure: FailHTTPStatus}, false, "but HTTP status 404", false},
		{NoAnswer, Result{Error: "read: connection reset by peer", Failure: FailReset}, false, "connection reset by peer", false},
		{NoAnswer, Result{OK: true, SourceIP: "10.0.0.5"}, false, "the target answered, but the expectation is that it must not (it saw source 10.0.0.5)", false},
		// A result from a probe binary that predates Failure: read from Error.
		{NoAnswer, Result{Error: "no reply within 1s"}, true, "failed as expected", true},
		{NoAnswer, Result{Error: "connection refused"}, false, "something on the path answered", false},
	}
	for _, c := range cases {
		r := c.r
		r.Expect = c.expect
		judge(&r)
		if r.Pass != c.pass || !strings.Contains(r.Reason, c.reason) || r.NoReply() != c.noReply {
			t.Errorf("%s on %+v: pass=%v reason %q noReply=%v; want pass=%v reason containing %q noReply=%v",
				c.expect, c.r, r.Pass, r.Reason, r.NoReply(), c.pass, c.reason, c.noReply)
		}
	}
	if err := (Spec{Target: "http://10.0.0.1:80/clientip", Expect: NoAnswer, ExpectSource: "10.0.0.2"}).Validate(); err == nil {
		t.Error("no-answer with an expected source validated")
	}
	if err := (Spec{Target: "tcp://10.0.0.1:80", Expect: NoAnswer}).Validate(); err != nil {
		t.Errorf("no-answer is an outcome: %v", err)
	}
}

// A check that declares nothing fails; so does a verdict that never ran.
func TestReportWithoutVerdictsFails(t *testing.T) {
	for name, rep := range map[string]*Report{"nil": nil, "empty": {}, "run of an empty check": NewCheck().Run(t.Context())} {
		if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "no expectation ran") {
			t.Errorf("%s report: %v, want \"no expectation ran\"", name, err)
		}
	}
	e := Expectation{Scenario: "pod-to-pod/x", From: Source{Name: "a", IP: "10.0.0.1"}, To: TCPTarget("b", "10.0.0.2", 80)}
	rep := &Report{Verdicts: []Verdict{{Expectation: e}}}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "pod-to-pod/x: a (10.0.0.1) -> b (10.0.0.2)") {
		t.Errorf("a verdict with no status passed or went unnamed: %v", err)
	}
}
