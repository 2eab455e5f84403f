package cloudcni

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// DaemonSet is the cloud CNI's agent DaemonSet running image (the harness's
// echo image): on every node that is not hybrid (the VPC CNI's
// anti-affinity), tolerating every taint (a node without CNI is tainted
// not-ready, and the control plane plays the EKS control plane's routes).
func DaemonSet(image string) *appsv1.DaemonSet {
	labels := map[string]string{LabelApp: Name}
	yes := true
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: Name,
					HostNetwork:        true,
					HostPID:            true,
					Affinity:           Affinity(),
					Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					PriorityClassName:  "system-node-critical",
					Containers: []corev1.Container{{
						Name:            "agent",
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command:         []string{"/hybridcni", Command},
						Env: []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
						SecurityContext: &corev1.SecurityContext{Privileged: &yes},
						ReadinessProbe: &corev1.Probe{PeriodSeconds: 2, ProbeHandler: corev1.ProbeHandler{
							Exec: &corev1.ExecAction{Command: []string{"/hybridcni", Command, "--ready"}}}},
					}},
				},
			},
		},
	}
}

// Affinity is the VPC CNI's: every node but hybrid ones.
func Affinity() *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: cni.HybridLabel, Operator: corev1.NodeSelectorOpNotIn, Values: []string{cni.HybridValue}}},
		}}},
	}}
}

// Deploy creates (or updates) the agent's service account, its right to
// read nodes, and the DaemonSet.
func Deploy(ctx context.Context, kube kubernetes.Interface, image string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace}}
	if _, err := kube.CoreV1().ServiceAccounts(Namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cloud CNI service account: %w", err)
	}
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: Name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cloud CNI cluster role: %w", err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: Name, Namespace: Namespace}}}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cloud CNI cluster role binding: %w", err)
	}
	ds := DaemonSet(image)
	dsc := kube.AppsV1().DaemonSets(Namespace)
	if _, err := dsc.Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cloud CNI DaemonSet: %w", err)
		}
		cur, err := dsc.Get(ctx, Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec = ds.Spec
		if _, err := dsc.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("cloud CNI DaemonSet: %w", err)
		}
	}
	return nil
}

// WaitReady waits until every node that is not hybrid runs a ready agent
// pod and every cloud worker is Ready (the CNI configuration is in place).
func WaitReady(ctx context.Context, kube kubernetes.Interface, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		pods, err := Pods(ctx, kube)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := map[string]bool{}
		for _, p := range pods {
			if cni.PodReady(&p) {
				ready[p.Spec.NodeName] = true
			}
		}
		for _, n := range nodes.Items {
			if Hybrid(&n) {
				continue
			}
			if !ready[n.Name] {
				last = fmt.Sprintf("node %s has no ready %s pod", n.Name, Name)
				return false, nil
			}
			if Worker(&n) && !nodeReady(&n) {
				last = fmt.Sprintf("cloud node %s is not Ready", n.Name)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("cloud CNI not ready within %s: %s: %w", timeout, last, err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Pods are the agent pods.
func Pods(ctx context.Context, kube kubernetes.Interface) ([]corev1.Pod, error) {
	list, err := kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelApp + "=" + Name})
	if err != nil {
		return nil, fmt.Errorf("list the cloud CNI's pods: %w", err)
	}
	return list.Items, nil
}

// Placement judges where the cloud CNI runs: an agent pod on every node that
// is not hybrid, none on a hybrid node. It returns what is wrong, each
// naming the node and pod, and how many cloud nodes it found an agent on
// (a judgement over no cloud node proves nothing: the caller wants one).
func Placement(nodes []corev1.Node, pods []corev1.Pod) (wrong []string, cloudWithAgent int) {
	byNode := map[string][]string{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p.Name)
	}
	for _, n := range nodes {
		on := byNode[n.Name]
		sort.Strings(on)
		switch {
		case Hybrid(&n) && len(on) > 0:
			wrong = append(wrong, fmt.Sprintf("hybrid node %s runs cloud CNI pod %s", n.Name, strings.Join(on, ", ")))
		case !Hybrid(&n) && len(on) == 0:
			wrong = append(wrong, fmt.Sprintf("cloud node %s has no %s pod", n.Name, Name))
		case !Hybrid(&n):
			cloudWithAgent++
		}
	}
	return wrong, cloudWithAgent
}

// CheckPlacement reads the nodes and agent pods and judges them (Placement).
func CheckPlacement(ctx context.Context, kube kubernetes.Interface) (wrong []string, cloudWithAgent int, err error) {
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, 0, err
	}
	pods, err := Pods(ctx, kube)
	if err != nil {
		return nil, 0, err
	}
	wrong, n := Placement(nodes.Items, pods)
	return wrong, n, nil
}
