package suites

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/hybridcni/hybridcni/framework/progress"
)

// nodeReady returns whether a node is Ready, and the reason when it is not.
func nodeReady(n *corev1.Node) (bool, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return true, ""
			}
			why := c.Reason
			if c.Message != "" {
				why += ": " + c.Message
			}
			return false, why
		}
	}
	return false, "no Ready condition yet"
}

// nodeStates lists "name: Ready" or "name: NotReady (reason)" for the nodes named.
func nodeStates(nodes []corev1.Node, names []string) string {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []string
	for i := range nodes {
		if !want[nodes[i].Name] {
			continue
		}
		if ok, why := nodeReady(&nodes[i]); ok {
			out = append(out, nodes[i].Name+": Ready")
		} else {
			out = append(out, fmt.Sprintf("%s: NotReady (%s)", nodes[i].Name, why))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// waitNodes watches nodes until done returns true for the current list, or
// ctx ends; it returns the last list seen.
func waitNodes(ctx context.Context, kube kubernetes.Interface, done func([]corev1.Node) bool) ([]corev1.Node, error) {
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) { return kube.CoreV1().Nodes().List(ctx, o) },
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			return kube.CoreV1().Nodes().Watch(ctx, o)
		},
	}
	byName := map[string]corev1.Node{}
	pw := progress.Start(ginkgo.GinkgoWriter, "nodes")
	defer pw.Done()
	snapshot := func() []corev1.Node {
		out := make([]corev1.Node, 0, len(byName))
		names := make([]string, 0, len(byName))
		for _, n := range byName {
			out = append(out, n)
			names = append(names, n.Name)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		pw.Update(nodeStates(out, names))
		return out
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Node{}, func(store cache.Store) (bool, error) {
		for _, o := range store.List() {
			n := o.(*corev1.Node)
			byName[n.Name] = *n
		}
		return done(snapshot()), nil
	}, func(e watch.Event) (bool, error) {
		if n, ok := e.Object.(*corev1.Node); ok {
			if e.Type == watch.Deleted {
				delete(byName, n.Name)
			} else {
				byName[n.Name] = *n
			}
		}
		return done(snapshot()), nil
	})
	return snapshot(), err
}
