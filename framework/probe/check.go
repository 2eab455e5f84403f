package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hybridcni/hybridcni/internal/table"
)

// Source is where a probe starts: a place plus the name and IP it goes by in
// check names ("client-a (10.100.0.5)").
type Source struct {
	Place Place
	Name  string
	IP    string
}

// Target is what a probe talks to.
type Target struct {
	Name     string
	IP       string
	Protocol Protocol
	Port     int
	// Path for HTTP ("/clientip" makes the echo report the source it saw).
	Path string
	// External marks targets outside the cluster (on-prem hosts, the
	// internet): only these get a short, reported retry.
	External bool
}

// HTTPTarget, TCPTarget, UDPTarget and ICMPTarget build targets.
func HTTPTarget(name, ip string, port int, path string) Target {
	return Target{Name: name, IP: ip, Protocol: HTTP, Port: port, Path: path}
}
func TCPTarget(name, ip string, port int) Target {
	return Target{Name: name, IP: ip, Protocol: TCP, Port: port}
}
func UDPTarget(name, ip string, port int) Target {
	return Target{Name: name, IP: ip, Protocol: UDP, Port: port}
}
func ICMPTarget(name, ip string) Target { return Target{Name: name, IP: ip, Protocol: ICMP} }

// Outside returns the target marked as outside the cluster.
func (t Target) Outside() Target { t.External = true; return t }

// URL is the target as `hybridcni probe --target` takes it.
func (t Target) URL() string {
	if t.Protocol == ICMP {
		return "icmp://" + t.IP
	}
	u := string(t.Protocol) + "://" + net.JoinHostPort(t.IP, strconv.Itoa(t.Port))
	if t.Protocol == HTTP {
		p := t.Path
		if p == "" {
			p = "/"
		}
		u += p
	}
	return u
}

// Expectation is one declared probe: from a source to a target, expecting
// success or failure and optionally the source address the target must see.
type Expectation struct {
	// Scenario groups checks cilium-cli style: "pod-to-pod/cross-node".
	Scenario string
	From     Source
	To       Target
	Expect   Outcome
	// Seen is the source IP the target must report (empty: not checked);
	// SeenNote says what that address is ("node IP: masquerading on").
	Seen     string
	SeenNote string
}

// ExpectOption refines an expectation.
type ExpectOption func(*Expectation)

// WithSource makes the probe also assert the source IP the target saw; note
// says what the address is, for the failure message.
func WithSource(ip, note string) ExpectOption {
	return func(e *Expectation) { e.Seen, e.SeenNote = ip, note }
}

// ExpectSuccess declares that from can reach to.
func ExpectSuccess(scenario string, from Source, to Target, opts ...ExpectOption) Expectation {
	return expect(scenario, from, to, Success, opts)
}

// ExpectFailure declares that from must not reach to. Any failure holds:
// no reply, connection refused or reset, an HTTP error status; the verdict
// names the one it accepted (Verdict.Accepted, the table's SEEN column).
// When the path must drop packets (unroutable addresses), use
// ExpectNoAnswer: a refusal proves that something answered.
func ExpectFailure(scenario string, from Source, to Target, opts ...ExpectOption) Expectation {
	return expect(scenario, from, to, Failure, opts)
}

// ExpectNoAnswer declares that nothing at all comes back from to within the
// probe's timeout: no reply, no refusal, no reset, no HTTP status. This is
// what an unroutable path looks like; a closed port (refused) fails it.
func ExpectNoAnswer(scenario string, from Source, to Target, opts ...ExpectOption) Expectation {
	return expect(scenario, from, to, NoAnswer, opts)
}

func expect(scenario string, from Source, to Target, o Outcome, opts []ExpectOption) Expectation {
	e := Expectation{Scenario: scenario, From: from, To: to, Expect: o}
	for _, opt := range opts {
		opt(&e)
	}
	return e
}

// Name is the cilium-cli style name:
// "pod-to-pod/cross-node: client-a (10.100.0.5) -> echo-b (10.100.0.140)".
func (e Expectation) Name() string {
	return fmt.Sprintf("%s: %s (%s) -> %s (%s)", e.Scenario, e.From.Name, e.From.IP, e.To.Name, e.To.IP)
}

// key identifies an expectation for the declared-twice check.
func (e Expectation) key() string { return e.Name() + " " + e.To.URL() }

func (e Expectation) validate() error {
	if e.Scenario == "" {
		return errors.New("probe: expectation has no Scenario: name it like pod-to-pod/cross-node")
	}
	if e.From.Place == nil {
		return fmt.Errorf("probe: %s: From.Place is nil: give the place the probe runs in", e.Name())
	}
	return Spec{Target: e.To.URL(), Expect: e.Expect, ExpectSource: e.Seen}.Validate()
}

// Status of one expectation after a run.
type Status string

// Statuses.
const (
	StatusOK     Status = "OK"
	StatusError  Status = "ERROR"
	StatusNotRun Status = "NOT RUN"
)

// Verdict is the judged outcome of one expectation.
type Verdict struct {
	Expectation Expectation
	Status      Status
	// Result is what the probe reported (zero when it never reported).
	Result Result
	// Attempts is 1 unless an external target was retried.
	Attempts int
	Duration time.Duration
	// Message explains an ERROR or NOT RUN.
	Message string
	// Accepted names the failure a passed failure or no-answer expectation
	// accepted ("connection refused", "no reply within 2s").
	Accepted string
}

// Check declares expectations and runs them concurrently.
type Check struct {
	concurrency int
	timeout     time.Duration
	retries     int
	backoff     time.Duration
	logf        func(string, ...any)

	mu   sync.Mutex
	exps []Expectation
	keys map[string]bool
	errs []error
}

// Option configures a Check.
type Option func(*Check)

// WithConcurrency bounds how many probes run at once (default 8).
func WithConcurrency(n int) Option { return func(c *Check) { c.concurrency = n } }

// WithTimeout is each probe's network timeout (default 2 s); the place gets
// 10 s more to start the command and report.
func WithTimeout(d time.Duration) Option { return func(c *Check) { c.timeout = d } }

// WithExternalRetry sets the retries (default 2) and pause between them
// (default 500 ms) for targets outside the cluster.
func WithExternalRetry(retries int, backoff time.Duration) Option {
	return func(c *Check) { c.retries, c.backoff = retries, backoff }
}

// WithLogf receives progress lines (retries), e.g. t.Logf.
func WithLogf(logf func(string, ...any)) Option { return func(c *Check) { c.logf = logf } }

// NewCheck returns an empty check.
func NewCheck(opts ...Option) *Check {
	c := &Check{concurrency: 8, timeout: DefaultTimeout, retries: 2, backoff: 500 * time.Millisecond,
		logf: func(string, ...any) {}, keys: map[string]bool{}}
	for _, o := range opts {
		o(c)
	}
	if c.concurrency < 1 {
		c.concurrency = 1
	}
	return c
}

// Expect declares expectations. Declaring one twice, or an invalid one, is
// an error (also reported by the run's Report.Err).
func (c *Check) Expect(exps ...Expectation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, e := range exps {
		if err := e.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if c.keys[e.key()] {
			errs = append(errs, fmt.Errorf("expectation declared twice: %s (%s)", e.Name(), e.To.URL()))
			continue
		}
		c.keys[e.key()] = true
		c.exps = append(c.exps, e)
	}
	c.errs = append(c.errs, errs...)
	return errors.Join(errs...)
}

// Run executes every declared expectation, at most the concurrency bound at
// once. Expectations not started when ctx ends are reported NOT RUN.
func (c *Check) Run(ctx context.Context) *Report {
	c.mu.Lock()
	exps := append([]Expectation(nil), c.exps...)
	declErrs := append([]error(nil), c.errs...)
	c.mu.Unlock()
	rep := &Report{Verdicts: make([]Verdict, len(exps)), declErrs: declErrs}
	sem := make(chan struct{}, c.concurrency)
	var wg sync.WaitGroup
	for i, e := range exps {
		rep.Verdicts[i] = Verdict{Expectation: e, Status: StatusNotRun,
			Message: "expectation never ran: " + e.Name() + " (" + e.To.URL() + ")"}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		if ctx.Err() != nil {
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rep.Verdicts[i] = c.run(ctx, e)
		}()
	}
	wg.Wait()
	return rep
}

// run performs one expectation, retrying only targets outside the cluster
// that did not answer.
func (c *Check) run(ctx context.Context, e Expectation) Verdict {
	start := time.Now()
	v := Verdict{Expectation: e}
	for {
		v.Attempts++
		v.Result, v.Message = c.once(ctx, e)
		if v.Message == "" {
			v.Status = StatusOK
			if e.Expect != Success {
				v.Accepted = v.Result.Error
			}
			break
		}
		v.Status = StatusError
		// Only "no answer" from outside the cluster is retried: a wrong
		// source or an answer that should not come is never flaky.
		if !e.To.External || e.Expect != Success || v.Result.OK || v.Attempts > c.retries || ctx.Err() != nil {
			break
		}
		c.logf("probe: retrying external target (attempt %d of %d): %s", v.Attempts+1, c.retries+1, v.Message)
		select {
		case <-time.After(c.backoff):
		case <-ctx.Done():
		}
	}
	if v.Attempts > 1 {
		v.Message = strings.TrimSpace(fmt.Sprintf("%s (%d attempts: external target)", v.Message, v.Attempts))
	}
	v.Duration = time.Since(start)
	return v
}

// once runs the probe command in the place; message is empty when it passed.
func (c *Check) once(ctx context.Context, e Expectation) (Result, string) {
	// no-answer is judged here from the failure the probe reports, so a
	// probe binary that knows only success and failure serves too.
	want := e.Expect
	if want == NoAnswer {
		want = Failure
	}
	argv := append(e.From.Place.Command(), "probe", "--target", e.To.URL(),
		"--expect", string(want), "--timeout", c.timeout.String())
	if e.Seen != "" {
		argv = append(argv, "--expect-source", e.Seen)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout+10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code, err := e.From.Place.Exec(ctx, argv, Stdio{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return Result{}, fmt.Sprintf("%s: could not run the probe in %s: %v", e.Name(), e.From.Place, err)
	}
	r, perr := lastJSON[Result](stdout.Bytes())
	if perr != nil {
		return Result{}, fmt.Sprintf("%s: the probe in %s reported nothing (exit %d): %s",
			e.Name(), e.From.Place, code, firstLine(stderr.String()))
	}
	if r.Pass != (code == 0) {
		return r, fmt.Sprintf("%s: the probe in %s exited %d but reported pass=%v", e.Name(), e.From.Place, code, r.Pass)
	}
	if r.Pass && e.Expect == NoAnswer && !r.NoReply() {
		return r, c.explain(e, r)
	}
	if r.Pass {
		return r, ""
	}
	return r, c.explain(e, r)
}

// explain builds the failure message: the check name, the target, and for
// source checks both addresses.
func (c *Check) explain(e Expectation, r Result) string {
	head := fmt.Sprintf("%s [%s]", e.Name(), e.To.URL())
	note := ""
	if e.SeenNote != "" {
		note = " (" + e.SeenNote + ")"
	}
	switch {
	case e.Expect == NoAnswer && !r.OK:
		return fmt.Sprintf("%s: expected no answer at all from %s (a path that drops packets), but got %s: something on the path answered",
			head, e.To.Name, r.Error)
	case e.Expect == Failure || e.Expect == NoAnswer:
		msg := fmt.Sprintf("%s: %s answered, but the expectation is that it must not", head, e.To.Name)
		if r.SourceIP != "" {
			msg += " (it saw source " + r.SourceIP + ")"
		}
		return msg
	case !r.OK && e.Seen != "":
		return fmt.Sprintf("%s: no answer from %s: %s; wanted it to see source %s%s", head, e.To.Name, r.Error, e.Seen, note)
	case !r.OK:
		return fmt.Sprintf("%s: no answer from %s: %s", head, e.To.Name, r.Error)
	case e.Seen != "":
		return fmt.Sprintf("%s: %s saw source %s, want %s%s", head, e.To.Name, r.SourceIP, e.Seen, note)
	}
	return head + ": " + r.Reason
}

func lastJSON[T any](out []byte) (T, error) {
	var v T
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return v, errors.New("no output")
	}
	err := json.Unmarshal([]byte(last), &v)
	return v, err
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(no error output)"
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Report is the outcome of a run.
type Report struct {
	Verdicts []Verdict
	declErrs []error
}

// ErrNoExpectation is in a report's error when the check declared nothing
// to run: a check that checks nothing does not pass.
var ErrNoExpectation = errors.New("probe: no expectation ran: the check declared none")

// Err joins every problem: failed expectations, expectations that never
// ran, and declaration errors; a report with no verdict at all is an error
// too (ErrNoExpectation). Nil when every declared expectation ran and held.
func (r *Report) Err() error {
	if r == nil {
		return ErrNoExpectation
	}
	errs := append([]error(nil), r.declErrs...)
	if len(r.Verdicts) == 0 {
		errs = append(errs, ErrNoExpectation)
	}
	for _, v := range r.Verdicts {
		if v.Status != StatusOK {
			msg := v.Message
			if msg == "" {
				msg = fmt.Sprintf("%s (%s): %s", v.Expectation.Name(), v.Expectation.To.URL(), v.Status)
			}
			errs = append(errs, errors.New(msg))
		}
	}
	return errors.Join(errs...)
}

// Counts returns how many expectations are OK, ERROR and NOT RUN.
func (r *Report) Counts() (ok, failed, notRun int) {
	for _, v := range r.Verdicts {
		switch v.Status {
		case StatusOK:
			ok++
		case StatusError:
			failed++
		default:
			notRun++
		}
	}
	return
}

// Table renders the OK/ERROR table, one row per expectation.
func (r *Report) Table() string {
	var b bytes.Buffer
	w := table.New(&b, "status", "check", "probe", "expect", "seen", "time")
	for _, v := range r.Verdicts {
		e := v.Expectation
		seen := v.Result.SourceIP
		if !v.Result.OK && v.Result.Error != "" {
			seen = v.Result.Error // what a failure expectation accepted, or why success failed
		}
		if seen == "" {
			seen = "-"
		}
		exp := string(e.Expect)
		if e.Seen != "" {
			exp += " from " + e.Seen
		}
		t := ""
		if v.Status != StatusNotRun {
			t = v.Duration.Round(time.Millisecond).String()
			if v.Attempts > 1 {
				t += fmt.Sprintf(" (%d attempts)", v.Attempts)
			}
		}
		w.Row(v.Status, e.Name(), e.To.URL(), exp, seen, t)
	}
	_ = w.Flush()
	ok, failed, notRun := r.Counts()
	fmt.Fprintf(&b, "\n%d OK, %d ERROR, %d NOT RUN\n", ok, failed, notRun)
	return b.String()
}
