package existing

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/suites"
)

// NodeShellCommand is the hidden subcommand of the harness's binary that
// runs a command in the host's root and namespaces (cmd/hybridcni).
const NodeShellCommand = "node-shell"

// shellContainer is the node shell pod's container.
const shellContainer = "shell"

// harnessEnterArgv runs argv on the host from the harness's image: its
// binary changes root to PID 1's (the pod shares the host's PID and
// network namespaces).
func harnessEnterArgv(argv []string) []string {
	return append([]string{image.BinaryPath, NodeShellCommand, "--"}, argv...)
}

// nsenterArgv runs argv on the host from an image with nsenter, as
// `kubectl debug node` users do.
func nsenterArgv(argv []string) []string {
	return append([]string{"nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--"}, argv...)
}

// nodeShells are the privileged pods, one per node, made on first use and
// deleted with the harness's namespace.
type nodeShells struct {
	rest  *rest.Config
	kube  kubernetes.Interface
	image string
	enter func([]string) []string

	mu   sync.Mutex
	pods map[string]string // node -> pod
}

// ShellPodName is the node shell pod of a node.
func ShellPodName(node string) string {
	name := "node-shell-" + node
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-.")
	}
	return name
}

// ShellPod is the privileged pod that runs node commands on node.
func ShellPod(node, img string, harness bool) *corev1.Pod {
	cmd := []string{"sleep", "86400"}
	if harness {
		cmd = []string{image.BinaryPath, NodeShellCommand}
	}
	privileged := true
	deadline := int64(6 * 3600) // gone even if the run is killed
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: ShellPodName(node), Namespace: suites.HarnessNamespace,
			Labels: map[string]string{"app.kubernetes.io/name": "hybridcni-node-shell", "hybridcni.dev/node": node}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostPID:                       true,
			HostNetwork:                   true,
			ActiveDeadlineSeconds:         &deadline,
			TerminationGracePeriodSeconds: new(int64),
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: shellContainer, Image: img, Command: cmd, ImagePullPolicy: corev1.PullIfNotPresent,
				SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
			}},
		},
	}
}

// pod returns node's shell pod, making it and waiting until it runs.
func (s *nodeShells) pod(ctx context.Context, node string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name, ok := s.pods[node]; ok {
		return name, nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: suites.HarnessNamespace}}
	if _, err := s.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create namespace %s: %w", suites.HarnessNamespace, err)
	}
	pod := ShellPod(node, s.image, s.enter(nil)[0] == image.BinaryPath)
	if _, err := s.kube.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("node shell on %s: %w", node, err)
	}
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := s.kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = string(p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.LastTerminationState.Terminated; t != nil || cs.State.Terminated != nil {
				if t == nil {
					t = cs.State.Terminated
				}
				// The shell never exits by itself: its image cannot run it.
				return false, fmt.Errorf("node shell pod %s/%s on %s exited %d (%s) (fix: build the image from this hybridcni with `hybridcni images build`, or pass %s-image with an image that has nsenter)",
					pod.Namespace, pod.Name, node, t.ExitCode, t.Reason, NodeShellFlag)
			}
			if w := cs.State.Waiting; w != nil {
				last += ": " + w.Reason + " " + w.Message
			}
			if cs.Ready {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil && strings.Contains(err.Error(), "fix:") {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("node shell pod %s/%s on %s not running within 2m (%s) (fix: the node must run image %s; pass %s-image)",
			pod.Namespace, pod.Name, node, strings.TrimSpace(last), s.image, NodeShellFlag)
	}
	s.pods[node] = pod.Name
	return pod.Name, nil
}

// exec runs argv on node and returns its standard output; a non-zero exit
// is an error with its standard error.
func (s *nodeShells) exec(ctx context.Context, node string, argv ...string) (string, error) {
	pod, err := s.pod(ctx, node)
	if err != nil {
		return "", err
	}
	var out, errb bytes.Buffer
	code, err := podExec(ctx, s.rest, pod, s.enter(argv), &out, &errb)
	if err != nil {
		return "", fmt.Errorf("%s on %s: %w", strings.Join(argv, " "), node, err)
	}
	if code != 0 {
		return out.String(), fmt.Errorf("%s on %s exited %d: %s", strings.Join(argv, " "), node, code, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func podExec(ctx context.Context, rc *rest.Config, pod string, argv []string, stdout, stderr *bytes.Buffer) (int, error) {
	return probe.InPod(rc, suites.HarnessNamespace, pod, shellContainer).Exec(ctx, argv, probe.Stdio{Stdout: stdout, Stderr: stderr})
}
