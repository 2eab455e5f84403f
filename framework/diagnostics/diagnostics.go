// Package diagnostics collects what a network engineer needs after a failed
// run into the results folder: node states, pods and their logs in the CNI
// namespaces, events, and whatever extra sources (router RIB, CNI status,
// probe tables, kind node logs) the run registers.
package diagnostics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// Source writes one kind of diagnostics into dir.
type Source interface {
	Name() string
	Collect(ctx context.Context, dir string) error
}

// SourceFunc adapts a function to a Source.
type SourceFunc struct {
	N string
	F func(ctx context.Context, dir string) error
}

func (s SourceFunc) Name() string                                  { return s.N }
func (s SourceFunc) Collect(ctx context.Context, dir string) error { return s.F(ctx, dir) }

// Collect runs every source into its own subfolder of dir. A failing source
// does not stop the others; its error is written next to what it collected
// and returned joined with the rest.
func Collect(ctx context.Context, dir string, sources ...Source) error {
	var errs []error
	for _, s := range sources {
		sub := filepath.Join(dir, s.Name())
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if err := s.Collect(ctx, sub); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
			_ = os.WriteFile(filepath.Join(sub, "ERROR.txt"), []byte(err.Error()+"\n"), 0o644)
		}
	}
	return errors.Join(errs...)
}

// Kubernetes collects nodes, and for each namespace its pods (status and
// logs, previous container logs too) and events.
type Kubernetes struct {
	Client     kubernetes.Interface
	Namespaces []string
	// TailLines bounds each log (default 500).
	TailLines int64
}

func (k Kubernetes) Name() string { return "kubernetes" }

func (k Kubernetes) Collect(ctx context.Context, dir string) error {
	var errs []error
	nodes, err := k.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		errs = append(errs, fmt.Errorf("list nodes: %w", err))
	} else {
		errs = append(errs, writeYAML(filepath.Join(dir, "nodes.yaml"), nodes))
		errs = append(errs, os.WriteFile(filepath.Join(dir, "nodes.txt"), []byte(nodeTable(nodes.Items)), 0o644))
	}
	for _, ns := range k.Namespaces {
		errs = append(errs, k.namespace(ctx, filepath.Join(dir, ns), ns))
	}
	return errors.Join(errs...)
}

func (k Kubernetes) namespace(ctx context.Context, dir, ns string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	pods, err := k.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods in %s: %w", ns, err)
	}
	errs = append(errs, writeYAML(filepath.Join(dir, "pods.yaml"), pods))
	errs = append(errs, os.WriteFile(filepath.Join(dir, "pods.txt"), []byte(podTable(pods.Items)), 0o644))
	events, err := k.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		errs = append(errs, fmt.Errorf("list events in %s: %w", ns, err))
	} else {
		errs = append(errs, os.WriteFile(filepath.Join(dir, "events.txt"), []byte(eventTable(events.Items)), 0o644))
	}
	tail := k.TailLines
	if tail == 0 {
		tail = 500
	}
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			for _, previous := range []bool{false, true} {
				if previous && !restarted(p, c.Name) {
					continue
				}
				name := fmt.Sprintf("%s.%s.log", p.Name, c.Name)
				if previous {
					name = fmt.Sprintf("%s.%s.previous.log", p.Name, c.Name)
				}
				errs = append(errs, k.log(ctx, filepath.Join(dir, "logs", name), ns, p.Name, &corev1.PodLogOptions{
					Container: c.Name, Previous: previous, TailLines: &tail,
				}))
			}
		}
	}
	return errors.Join(errs...)
}

func (k Kubernetes) log(ctx context.Context, path, ns, pod string, opts *corev1.PodLogOptions) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	rc, err := k.Client.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		// A pod that never started has no logs; say so in place of the log.
		return os.WriteFile(path, []byte("no log: "+err.Error()+"\n"), 0o644)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, rc)
	return err
}

func restarted(p corev1.Pod, container string) bool {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container && s.RestartCount > 0 {
			return true
		}
	}
	return false
}

func writeYAML(path string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func nodeTable(nodes []corev1.Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-32s %-10s %-16s %s\n", "NODE", "READY", "ADDRESS", "LABELS")
	for _, n := range nodes {
		ready := "Unknown"
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = string(c.Status)
				if c.Status != corev1.ConditionTrue && c.Reason != "" {
					ready += " (" + c.Reason + ")"
				}
			}
		}
		addr := ""
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				addr = a.Address
			}
		}
		var labels []string
		for k, v := range n.Labels {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		fmt.Fprintf(&b, "%-32s %-10s %-16s %s\n", n.Name, ready, addr, strings.Join(labels, ","))
	}
	return b.String()
}

func podTable(pods []corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-48s %-24s %-10s %-8s %-16s %s\n", "POD", "NODE", "PHASE", "RESTARTS", "IP", "WAITING")
	for _, p := range pods {
		var restarts int32
		var waiting []string
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
			if s.State.Waiting != nil {
				waiting = append(waiting, s.Name+": "+s.State.Waiting.Reason)
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
				waiting = append(waiting, "unschedulable: "+c.Message)
			}
		}
		fmt.Fprintf(&b, "%-48s %-24s %-10s %-8d %-16s %s\n", p.Name, p.Spec.NodeName, p.Status.Phase, restarts, p.Status.PodIP, strings.Join(waiting, "; "))
	}
	return b.String()
}

func eventTable(events []corev1.Event) string {
	sort.Slice(events, func(i, j int) bool { return eventTime(events[i]).Before(eventTime(events[j])) })
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%s %-8s %-24s %s/%s: %s\n", eventTime(e).UTC().Format(time.RFC3339), e.Type, e.Reason,
			strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, strings.TrimSpace(e.Message))
	}
	return b.String()
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
