package suites

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// The webhook check's cleanup on a real API server, with its pod held in
// Terminating as a kubelet holds it until the container stopped (here by a
// finalizer the test lifts after a few seconds): a delete alone leaves the
// name taken, and the next run of the check (the fault phase runs it again
// right after heal) fails creating its pod with AlreadyExists, as on kind
// after control-plane-to-pod-dropped healed; removeWebhook returns only once
// the pod is gone, and then the same objects are created again; a pod that
// never goes fails it, naming the pod.
func TestWebhookCleanupWaitsForPodAPITier(t *testing.T) {
	cnitest.RequireAPITier(t)
	ctx := context.Background()
	env := testenv.StartT(t, testenv.WithHybridNodes(1))
	kube := env.Kube()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workloadNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const hold = "hybridcni.dev/test-terminating"
	name := webhookName
	pod := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNamespace, Finalizers: []string{hold}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "webhook", Image: "echo:test"}}}}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNamespace},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNamespace}}
	create := func() error {
		if _, err := kube.CoreV1().Secrets(workloadNamespace).Create(ctx, secret.DeepCopy(), metav1.CreateOptions{}); err != nil {
			return err
		}
		if _, err := kube.CoreV1().Pods(workloadNamespace).Create(ctx, pod(), metav1.CreateOptions{}); err != nil {
			return err
		}
		_, err := kube.CoreV1().Services(workloadNamespace).Create(ctx, svc.DeepCopy(), metav1.CreateOptions{})
		return err
	}
	lift := func() {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": nil}})
		if _, err := kube.CoreV1().Pods(workloadNamespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("lift the finalizer: %v", err)
		}
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}

	// What the cleanup did before: delete and go. The name stays taken.
	if err := kube.CoreV1().Pods(workloadNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = kube.CoreV1().Secrets(workloadNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	_ = kube.CoreV1().Services(workloadNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	err := create()
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating the webhook's objects again while its pod terminates: %v, want AlreadyExists (the kind failure)", err)
	}
	t.Logf("delete and go, then the next run: %v", err)

	// removeWebhook waits: the pod goes when the "kubelet" confirms.
	lifted := make(chan time.Time, 1)
	go func() {
		time.Sleep(3 * time.Second)
		lift()
		lifted <- time.Now()
	}()
	if err := removeWebhook(ctx, kube, name, time.Minute); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	if at := <-lifted; returned.Before(at) {
		t.Fatalf("removeWebhook returned at %s, before the pod could go (%s)", returned.Format("15:04:05.000"), at.Format("15:04:05.000"))
	}
	if err := create(); err != nil {
		t.Fatalf("the next run's objects after removeWebhook: %v", err)
	}

	// A pod that never goes fails the cleanup, naming it.
	err = removeWebhook(ctx, kube, name, 3*time.Second)
	if err == nil || !strings.Contains(err.Error(), workloadNamespace+"/"+name) {
		t.Fatalf("pod held for good: %v, want a failure naming %s/%s", err, workloadNamespace, name)
	}
	t.Logf("held for good: %v", err)
	lift()
}
