package testenv

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// What a kubelet reports while its container runtime has no CNI config,
// and once it has one.
const (
	NotReadyReason  = "KubeletNotReady"
	NotReadyMessage = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
	ReadyReason     = "KubeletReady"
	ReadyMessage    = "kubelet is posting ready status"
)

// networkGate plays the part of the kubelet's network readiness for gated
// nodes: a gated node is Ready while a CNI agent pod (matching the
// selector) is Running on it, and NotReady otherwise. kwok initialises gated
// nodes NotReady and leaves their conditions alone afterwards (see
// kwok-stages.yaml); kwok keeps their leases so they never go Unknown.
type networkGate struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startNetworkGate(kube kubernetes.Interface, agents labels.Selector, logf func(string, ...any)) *networkGate {
	ctx, cancel := context.WithCancel(context.Background())
	g := &networkGate{cancel: cancel, done: make(chan struct{})}

	nodeInformers := informers.NewSharedInformerFactory(kube, 0)
	podInformers := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = agents.String() }))
	nodes := nodeInformers.Core().V1().Nodes()
	pods := podInformers.Core().V1().Pods()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())

	enqueueNode := func(obj any) {
		if n, ok := obj.(*corev1.Node); ok && n.Annotations[NetworkGateAnnotation] != "" {
			queue.Add(n.Name)
		}
	}
	enqueuePod := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			queue.Add(p.Spec.NodeName)
		}
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueNode,
		UpdateFunc: func(_, obj any) { enqueueNode(obj) },
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueuePod,
		UpdateFunc: func(_, obj any) { enqueuePod(obj) },
		DeleteFunc: enqueuePod,
	})
	nodeInformers.Start(ctx.Done())
	podInformers.Start(ctx.Done())

	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	go func() {
		defer close(g.done)
		defer nodeInformers.Shutdown()
		defer podInformers.Shutdown()
		if !cache.WaitForCacheSync(ctx.Done(), nodes.Informer().HasSynced, pods.Informer().HasSynced) {
			return
		}
		for {
			name, quit := queue.Get()
			if quit {
				return
			}
			err := reconcileGatedNode(ctx, kube, nodes.Lister(), pods.Lister(), name)
			if err != nil && ctx.Err() == nil {
				logf("network gate: node %s: %v (will retry)", name, err)
				queue.AddRateLimited(name)
			} else {
				queue.Forget(name)
			}
			queue.Done(name)
		}
	}()
	return g
}

func (g *networkGate) stop() {
	g.cancel()
	<-g.done
}

func reconcileGatedNode(ctx context.Context, kube kubernetes.Interface, nodes listersv1.NodeLister, pods listersv1.PodLister, name string) error {
	node, err := nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// Not gated, or kwok has not initialised it yet (it will, NotReady).
	if node.Annotations[NetworkGateAnnotation] == "" || node.Status.Phase != corev1.NodeRunning {
		return nil
	}
	agents, err := pods.List(labels.Everything()) // the informer only holds agent pods
	if err != nil {
		return err
	}
	want := false
	for _, p := range agents {
		if p.Spec.NodeName == name && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			want = true
			break
		}
	}
	if cur := NodeReadyCondition(node); cur != nil && (cur.Status == corev1.ConditionTrue) == want {
		return nil
	}
	cond := corev1.NodeCondition{
		Type:   corev1.NodeReady,
		Status: corev1.ConditionFalse, Reason: NotReadyReason, Message: NotReadyMessage,
		LastHeartbeatTime:  metav1.NewTime(time.Now()),
		LastTransitionTime: metav1.NewTime(time.Now()),
	}
	if want {
		cond.Status, cond.Reason, cond.Message = corev1.ConditionTrue, ReadyReason, ReadyMessage
	}
	// Conditions merge by type: only Ready changes.
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{cond}}})
	if err != nil {
		return err
	}
	_, err = kube.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}
