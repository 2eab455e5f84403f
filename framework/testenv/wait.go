package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apimachinerywait "k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/e2e-framework/klient/wait"
)

const pollInterval = 50 * time.Millisecond

// insecureLoopbackClient probes the health endpoints of the controller
// manager and scheduler, which serve self-signed certificates on 127.0.0.1.
var insecureLoopbackClient = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // loopback health probe
}

// waitHTTP polls url until it answers 200, a component exits (error with
// its log tail) or ctx ends (error with the last answer and the log tail).
func (e *Env) waitHTTP(ctx context.Context, p *process, url string, c *http.Client) error {
	if c == nil {
		c = &http.Client{Timeout: 2 * time.Second}
	}
	last := "no answer yet"
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				e.logf("%s ready (%s after start)", p.name, time.Since(e.started).Round(time.Millisecond))
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, lastLines(string(body), 6))
		} else {
			last = err.Error()
		}
		if err := e.Failed(); err != nil { // this or an earlier component died
			return err
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (%s) before the start deadline: %s\n%s", p.name, url, last, p.tail(20))
		case <-tick.C:
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// failFast wraps a wait condition so that a component exiting ends the wait
// with that component's log instead of a timeout.
func (e *Env) failFast(cond apimachinerywait.ConditionWithContextFunc) apimachinerywait.ConditionWithContextFunc {
	return func(ctx context.Context) (bool, error) {
		if err := e.Failed(); err != nil {
			return false, err
		}
		return cond(ctx)
	}
}

// waitNodesInitialised waits until kwok has initialised every node (Ready
// for plain nodes, NotReady with the CNI message for gated ones) and the
// controller manager's not-ready taint agrees with that.
func (e *Env) waitNodesInitialised(ctx context.Context) error {
	pending := map[string]string{}
	cond := func(ctx context.Context) (bool, error) {
		list, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil // API hiccup: keep polling until the deadline
		}
		byName := map[string]*corev1.Node{}
		for i := range list.Items {
			byName[list.Items[i].Name] = &list.Items[i]
		}
		clear(pending)
		for _, n := range e.Nodes() {
			obj := byName[n.Name]
			if obj == nil {
				pending[n.Name] = "not found"
				continue
			}
			ready := NodeReadyCondition(obj)
			switch {
			case ready == nil:
				pending[n.Name] = "no Ready condition yet (kwok has not initialised it)"
			case n.Gated && (obj.Status.Phase != corev1.NodeRunning || ready.Status == corev1.ConditionUnknown):
				pending[n.Name] = fmt.Sprintf("phase %q, Ready=%s", obj.Status.Phase, ready.Status)
			case !n.Gated && ready.Status != corev1.ConditionTrue:
				pending[n.Name] = fmt.Sprintf("Ready=%s: %s", ready.Status, ready.Message)
			case hasNotReadyTaint(obj) != (ready.Status != corev1.ConditionTrue):
				// The controller manager has not caught up yet: pods
				// would be scheduled against a stale taint.
				pending[n.Name] = fmt.Sprintf("Ready=%s but taints %v", ready.Status, obj.Spec.Taints)
			}
		}
		return len(pending) == 0, nil
	}
	if err := wait.For(e.failFast(cond), wait.WithContext(ctx), wait.WithInterval(pollInterval), wait.WithImmediate()); err != nil {
		return fmt.Errorf("nodes not initialised by kwok: %s: %w\n%s", describePending(pending), err, e.LogTail(Kwok, 15))
	}
	return nil
}

// waitDefaultServiceAccounts waits for the "default" ServiceAccount that
// the controller manager creates; pods cannot be created before it exists.
func (e *Env) waitDefaultServiceAccounts(ctx context.Context) error {
	missing := ""
	cond := func(ctx context.Context) (bool, error) {
		for _, ns := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem} {
			if _, err := e.kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
				missing = ns + "/default: " + err.Error()
				return false, nil
			}
		}
		return true, nil
	}
	if err := wait.For(e.failFast(cond), wait.WithContext(ctx), wait.WithInterval(pollInterval), wait.WithImmediate()); err != nil {
		return fmt.Errorf("service account %s (made by kube-controller-manager): %w\n%s", missing, err, e.LogTail(KubeControllerManager, 15))
	}
	return nil
}

func describePending(p map[string]string) string {
	var s []string
	for name, why := range p {
		s = append(s, name+": "+why)
	}
	sort.Strings(s)
	return strings.Join(s, "; ")
}

func hasNotReadyTaint(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady && t.Effect == corev1.TaintEffectNoSchedule {
			return true
		}
	}
	return false
}

// NodeReadyCondition returns the node's Ready condition, or nil.
func NodeReadyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
