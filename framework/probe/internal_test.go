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
	if err := (Budget{}).Check("p", r); err != nil {
		t.Fatalf("an empty budget checks nothing, got %v", err)
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
		if r.Pass != tc.pass || !strings.Contains(r.Reason, tc.reason) || (tc.pass && r.Reason != "") {
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
