package standin_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/cni/standin"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

func TestCiliumBGPVersions(t *testing.T) {
	for v, want := range map[string][]string{
		"1.16.18": {"v2alpha1"}, "v1.17.18": {"v2alpha1"}, "1.18.0": {"v2", "v2alpha1"},
		"1.19.1": {"v2", "v2alpha1"}, "latest": {"v2alpha1"},
	} {
		if got := standin.CiliumBGPVersions(v); !slices.Equal(got, want) {
			t.Errorf("CiliumBGPVersions(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestImageVersion(t *testing.T) {
	for image, want := range map[string]string{
		"quay.io/cilium/operator-generic:v1.16.18@sha256:abc": "v1.16.18",
		"registry:5000/cilium/operator-generic:v1.17.18":      "v1.17.18",
		"registry:5000/cilium/operator-generic":               "",
		"operator@sha256:abc":                                 "",
	} {
		if got := standin.ImageVersion(image); got != want {
			t.Errorf("ImageVersion(%q) = %q, want %q", image, got, want)
		}
	}
}

func operatorDeployment(version string) *appsv1.Deployment {
	labels := map[string]string{"name": cilium.OperatorDeployment}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: cilium.OperatorDeployment, Namespace: cilium.Namespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: cilium.OperatorDeployment, Image: "quay.io/cilium/operator-generic:" + version + "@sha256:0",
				}}},
			},
		},
	}
}

// waitServed waits until the CRD named name serves want, and fails naming what it serves.
func waitServed(t *testing.T, c *cni.Cluster, name string, want []string) {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := c.Dynamic.Resource(cni.CRDGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = nil
		vs, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
		for _, v := range vs {
			got = append(got, v.(map[string]any)["name"].(string))
		}
		return slices.Equal(got, want), nil
	})
	if err != nil {
		t.Fatalf("CRD %s serves %v, want %v", name, got, want)
	}
}

// The cilium-operator stand-in registers nothing before the operator's
// Deployment exists, the base CRDs without BGP, the BGP CRDs once
// cilium-config enables the BGP control plane, and adds v2 when the
// operator becomes a 1.18 one.
func TestCiliumOperatorStandIn(t *testing.T) {
	cnitest.RequireAPITier(t)
	ctx := context.Background()
	env := testenv.StartT(t, testenv.WithHybridNodes(1))
	c, err := cni.NewCluster(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	op, err := standin.StartCiliumOperator(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := op.Close(); err != nil {
			t.Error(err)
		}
	})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: standin.CiliumConfigMap, Namespace: cilium.Namespace},
		Data: map[string]string{"enable-bgp-control-plane": "false"}}
	if cm, err = c.Kube.CoreV1().ConfigMaps(cilium.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The stand-in looks (the ConfigMap woke it) and finds no operator.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return op.Rounds() > 0, nil
	}); err != nil {
		t.Fatal("the stand-in never looked at the cluster")
	}
	if got := cnitest.CRDNames(t, c, "cilium"); len(got) != 0 {
		t.Fatalf("CRDs registered without a cilium-operator Deployment: %v", got)
	}

	if _, err := c.Kube.AppsV1().Deployments(cilium.Namespace).Create(ctx, operatorDeployment("v1.16.18"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, c, "ciliumnodes.cilium.io", []string{"v2"})
	if got := cnitest.CRDNames(t, c, "ciliumbgp"); len(got) != 0 {
		t.Errorf("BGP CRDs registered with the BGP control plane off: %v", got)
	}

	cm.Data["enable-bgp-control-plane"] = "true"
	if _, err := c.Kube.CoreV1().ConfigMaps(cilium.Namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, c, "ciliumbgpclusterconfigs.cilium.io", []string{"v2alpha1"})
	if v, err := cilium.NewDriver(c, cni.Options{Timeout: 5 * time.Second}).BGPAPIVersion(ctx); err != nil || v != "cilium.io/v2alpha1" {
		t.Errorf("BGP API version after 1.16: %q %v", v, err)
	}

	dep, err := c.Kube.AppsV1().Deployments(cilium.Namespace).Get(ctx, cilium.OperatorDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep.Spec.Template.Spec.Containers[0].Image = strings.Replace(dep.Spec.Template.Spec.Containers[0].Image, "v1.16.18", "v1.18.2", 1)
	if _, err := c.Kube.AppsV1().Deployments(cilium.Namespace).Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, c, "ciliumbgppeerconfigs.cilium.io", []string{"v2", "v2alpha1"})
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		return slices.Equal(op.BGPVersions(), []string{"v2", "v2alpha1"}), nil
	}); err != nil {
		t.Errorf("stand-in BGP versions %v, want [v2 v2alpha1]", op.BGPVersions())
	}
	if got, want := len(op.Registered()), len(standin.CiliumOperatorCRDs()); got != want {
		t.Errorf("registered %v, want %d CRDs", op.Registered(), want)
	}
}
