package suites

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/webhook"
)

const (
	webhookName   = "hybridcni-webhook"
	webhookPort   = 8443
	webhookTarget = "hybridcni.dev/webhook-target"
)

// webhookOnHybridNode serves a validating webhook from a pod on a hybrid
// node. Admission reaches it exactly when the control plane can route to
// pod CIDRs; otherwise calls fail (failurePolicy Fail), as the guide warns.
func (w *world) webhookOnHybridNode(ctx SpecContext) {
	wl := w.dataplane(ctx)
	node := wl.order[0]
	cms, cm, _ := w.serveWebhook(ctx, webhookName, node)
	var err error
	if w.podsRoutableFromControlPlane() {
		_, err = cms.Create(ctx, cm(webhook.RejectName), metav1.CreateOptions{})
		Expect(err).To(HaveOccurred(), "the webhook on %s was not consulted: the marker ConfigMap was admitted", node)
		Expect(err.Error()).To(ContainSubstring(webhook.RejectMessage),
			"admission through webhook %s on hybrid node %s failed, but not by the webhook's answer", webhookName, node)
		_, err = cms.Create(ctx, cm("hybridcni-webhook-allow"), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred(), "the webhook on hybrid node %s must admit an ordinary ConfigMap: pod CIDRs are routable", node)
		_ = cms.Delete(ctx, "hybridcni-webhook-allow", metav1.DeleteOptions{})
		return
	}
	_, err = cms.Create(ctx, cm("hybridcni-webhook-allow"), metav1.CreateOptions{})
	Expect(err).To(HaveOccurred(), "a webhook on a hybrid node answered although pod CIDRs are not routable from the control plane")
	Expect(strings.Contains(err.Error(), "failed calling webhook") && unreachable(err)).To(BeTrue(),
		"admission failed for another reason than an unreachable webhook (want the call to time out or find no route): %v", err)
}

// serveWebhook serves a validating webhook named name from a pod on node
// (secret, pod, Service, ValidatingWebhookConfiguration, removed after the
// spec), waits until the pod is ready and the Service is programmed, and
// returns the ConfigMaps client, a ConfigMap that goes through it, and the
// serving pod as failures name it (pod, address, node): under a fault's
// bound the next API call may fail with nothing but the deadline.
func (w *world) serveWebhook(ctx SpecContext, name, node string) (typedcorev1.ConfigMapInterface, func(string) *corev1.ConfigMap, string) {
	kube := w.env.Kube
	host := fmt.Sprintf("%s.%s.svc", name, workloadNamespace)
	kp, err := webhook.SelfSigned(host)
	Expect(err).NotTo(HaveOccurred())

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNamespace},
		Data: map[string][]byte{"tls.crt": kp.CertPEM, "tls.key": kp.KeyPEM}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNamespace, Labels: map[string]string{labelApp: name}},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"kubernetes.io/hostname": node},
			Containers: []corev1.Container{{
				Name: "webhook", Image: w.env.EchoImage, Command: []string{"/hybridcni", "webhook"},
				Args:         []string{fmt.Sprintf("--listen-address=:%d", webhookPort), "--tls-cert=/tls/tls.crt", "--tls-key=/tls/tls.key"},
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/tls", ReadOnly: true}},
				ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(webhookPort)}}},
			}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}}},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workloadNamespace},
		Spec: corev1.ServiceSpec{Selector: map[string]string{labelApp: name},
			Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(webhookPort)}}},
	}
	_, err = kube.CoreV1().Secrets(workloadNamespace).Create(ctx, secret, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred(), "webhook %s on node %s: its Secret", name, node)
	_, err = kube.CoreV1().Pods(workloadNamespace).Create(ctx, pod, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred(), "webhook %s on node %s: its pod", name, node)
	_, err = kube.CoreV1().Services(workloadNamespace).Create(ctx, svc, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred(), "webhook %s on node %s: its Service", name, node)

	// Only ConfigMaps carrying the target label go through the webhook, so
	// nothing else in the cluster depends on it.
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	path := "/validate"
	port := int32(443)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "configmaps.hybridcni.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: kp.CertPEM,
				Service: &admissionregistrationv1.ServiceReference{Namespace: workloadNamespace, Name: name, Path: &path, Port: &port}},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{webhookTarget: name}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	_, err = kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred(), "webhook %s on node %s: its ValidatingWebhookConfiguration", name, node)
	DeferCleanup(func(ctx SpecContext) {
		Expect(removeWebhook(ctx, kube, name, webhookGoneWithin)).To(Succeed())
	})

	// The webhook pod must run before admission can be judged.
	where := fmt.Sprintf("pod %s on node %s", name, node)
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := kube.CoreV1().Pods(workloadNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil || !cni.PodReady(p) || p.Status.PodIP == "" {
			return false, nil
		}
		where = fmt.Sprintf("pod %s (%s) on node %s", name, p.Status.PodIP, node)
		return true, nil
	})
	Expect(err).NotTo(HaveOccurred(), "webhook %s never became ready", where)
	Expect(w.waitServiceReady(ctx, workloadNamespace, name)).To(Succeed(), "the Service of webhook %s", where)

	cm := func(cmName string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cmName, Namespace: workloadNamespace, Labels: map[string]string{webhookTarget: name}}}
	}
	cms := kube.CoreV1().ConfigMaps(workloadNamespace)
	// A ready endpoint is not yet a programmed Service on the control plane:
	// until kube-proxy has its rules, the API server's call is refused. Wait
	// for that (bounded) with dry-run requests before the judged ones.
	_ = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cms.Create(ctx, cm(name+"-warmup"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil || !strings.Contains(err.Error(), "connection refused"), nil
	})
	return cms, cm, where
}

// webhookGoneWithin bounds the wait for a webhook pod to be gone after
// its check (the kubelet stops it and confirms in a few seconds).
const webhookGoneWithin = 2 * time.Minute

// removeWebhook deletes what serveWebhook made and waits until its pod is
// gone. The fault phase runs a check again right after heal, with the same
// names: a pod still terminating (deleted, not yet confirmed by its
// kubelet) failed that run's create at once with AlreadyExists, as the kind
// fault matrix saw for control-plane-to-pod/webhook after
// control-plane-to-pod-dropped healed.
func removeWebhook(ctx context.Context, kube kubernetes.Interface, name string, within time.Duration) error {
	_ = kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
	_ = kube.CoreV1().Services(workloadNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	_ = kube.CoreV1().Pods(workloadNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	_ = kube.CoreV1().Secrets(workloadNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, within, true, func(ctx context.Context) (bool, error) {
		p, err := kube.CoreV1().Pods(workloadNamespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			if last == "" || ctx.Err() == nil {
				last = err.Error()
			}
		default:
			last = fmt.Sprintf("phase %s, deletion requested %v", p.Status.Phase, p.DeletionTimestamp != nil)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("webhook pod %s/%s still there %s after the check (%s): the next check serving it would collide", workloadNamespace, name, within, last)
	}
	return nil
}
