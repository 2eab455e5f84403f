package timeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/hybridcni/hybridcni/framework/report"
)

// PodWatcher turns pod changes in some namespaces into spans: from the
// moment a workload's pod on a node stops being ready (terminating, deleted,
// a container restarting, a new pod starting) until a pod of the same
// workload on that node is ready again ("kube-system/cilium on worker2
// down: cilium-x7k2p terminating, until cilium-9qv4d ready"). A DaemonSet's
// pods are keyed by node, a Deployment's by the Deployment alone.
type PodWatcher struct {
	kube kubernetes.Interface
	ns   []string
	rec  *Recorder

	mu    sync.Mutex
	ready map[string]bool // namespace/name -> last seen ready
}

// NewPodWatcher watches the pods of namespaces into rec.
func NewPodWatcher(kube kubernetes.Interface, rec *Recorder, namespaces ...string) *PodWatcher {
	return &PodWatcher{kube: kube, ns: namespaces, rec: rec, ready: map[string]bool{}}
}

// Start lists the pods (their current state is the starting point: pods
// not ready now open a span) and watches until ctx ends; it returns once
// every namespace is being watched. Errors of the watch after that are
// retried (re-list, re-watch) until ctx ends.
func (w *PodWatcher) Start(ctx context.Context) error {
	for _, ns := range w.ns {
		rv, err := w.list(ctx, ns)
		if err != nil {
			return fmt.Errorf("timeline: list pods in %s: %w", ns, err)
		}
		wi, err := w.kube.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			return fmt.Errorf("timeline: watch pods in %s: %w", ns, err)
		}
		go w.loop(ctx, ns, wi)
	}
	return nil
}

func (w *PodWatcher) list(ctx context.Context, ns string) (string, error) {
	list, err := w.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	now := time.Now()
	for i := range list.Items {
		w.observe(&list.Items[i], false, now)
	}
	return list.ResourceVersion, nil
}

func (w *PodWatcher) loop(ctx context.Context, ns string, wi watch.Interface) {
	for {
		for ev := range wi.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				w.observe(pod, false, time.Now())
			case watch.Deleted:
				w.observe(pod, true, time.Now())
			}
		}
		wi.Stop()
		// The watch ended (timeout, compaction): re-list and watch again.
		for {
			if ctx.Err() != nil {
				return
			}
			rv, err := w.list(ctx, ns)
			if err == nil {
				wi, err = w.kube.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
			}
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// workloadKey names the workload a pod belongs to, and whether it runs one
// pod per node (then the key includes the node).
func workloadKey(p *corev1.Pod) (name string, perNode bool) {
	for _, o := range p.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		switch o.Kind {
		case "DaemonSet":
			return o.Name, true
		case "ReplicaSet":
			// Deployment pods: the ReplicaSet name is the Deployment's plus the template hash.
			if h := p.Labels["pod-template-hash"]; h != "" {
				return strings.TrimSuffix(o.Name, "-"+h), false
			}
			return o.Name, false
		default:
			return o.Name, false
		}
	}
	return p.Name, true // a bare pod is its own workload
}

// workloadRemoved says whether the controller of a deleted pod is gone or
// being deleted. A pod without a controller is its own workload.
func (w *PodWatcher) workloadRemoved(p *corev1.Pod) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, o := range p.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		var obj metav1.Object
		var err error
		switch o.Kind {
		case "DaemonSet":
			obj, err = w.kube.AppsV1().DaemonSets(p.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
		case "ReplicaSet":
			obj, err = w.kube.AppsV1().ReplicaSets(p.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
		default:
			return false
		}
		if apierrors.IsNotFound(err) {
			return true
		}
		return err == nil && obj.GetDeletionTimestamp() != nil
	}
	return true
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// why says why a pod is not ready, in a few words.
func why(p *corev1.Pod, deleted bool) string {
	switch {
	case deleted:
		return "deleted"
	case p.DeletionTimestamp != nil:
		return "terminating"
	case p.Status.Phase == corev1.PodPending:
		return "starting"
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Waiting != nil && c.State.Waiting.Reason != "" {
			return strings.ToLower(c.State.Waiting.Reason)
		}
		if !c.Ready && c.RestartCount > 0 {
			return "restarted"
		}
	}
	return "not ready"
}

func (w *PodWatcher) observe(p *corev1.Pod, deleted bool, at time.Time) {
	id := p.Namespace + "/" + p.Name
	ready := podReady(p) && !deleted
	w.mu.Lock()
	was, known := w.ready[id]
	if deleted {
		delete(w.ready, id)
	} else {
		w.ready[id] = ready
	}
	w.mu.Unlock()
	if known && was == ready && !deleted {
		return
	}
	name, perNode := workloadKey(p)
	node := p.Spec.NodeName
	key := "pod:" + p.Namespace + "/" + name
	where := ""
	if perNode {
		key += "@" + node
		if node != "" {
			where = " on " + node
		}
	}
	if ready {
		w.rec.Close(key, at, fmt.Sprintf(", until %s ready", p.Name))
		return
	}
	if deleted && w.workloadRemoved(p) {
		// Its workload was removed (a pre-flight check uninstalled):
		// no pod will be ready again, so the span ends here.
		w.rec.Close(key, at, ", until its workload was removed")
		return
	}
	if deleted && known && !was {
		return // already counted as down
	}
	text := fmt.Sprintf("%s/%s%s down: %s %s", p.Namespace, name, where, p.Name, why(p, deleted))
	w.rec.Open(key, at, report.Event{Kind: report.EventPodDown, Node: node, Subject: p.Namespace + "/" + p.Name, Text: text})
}
