package probe

import (
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// DefaultBin is where our images keep the hybridcni binary.
const DefaultBin = "/hybridcni"

// Pod is a place in a Kubernetes pod: commands run through the API server's
// exec subresource (WebSocket, falling back to SPDY, as kubectl does).
type Pod struct {
	Config    *rest.Config
	Namespace string
	Name      string
	// Container in the pod (empty: the pod's only container).
	Container string
	// Bin is the argv prefix that runs hybridcni (default /hybridcni).
	Bin []string
}

// InPod returns a pod place running hybridcni as /hybridcni.
func InPod(cfg *rest.Config, namespace, name, container string) *Pod {
	return &Pod{Config: cfg, Namespace: namespace, Name: name, Container: container}
}

func (p *Pod) String() string { return "pod " + p.Namespace + "/" + p.Name }

func (p *Pod) Command() []string {
	if len(p.Bin) == 0 {
		return []string{DefaultBin}
	}
	return append([]string(nil), p.Bin...)
}

// Exec runs argv in the pod's container and returns its exit code.
func (p *Pod) Exec(ctx context.Context, argv []string, stdio Stdio) (int, error) {
	if p.Config == nil || p.Namespace == "" || p.Name == "" {
		return -1, errors.New("probe: pod place needs Config, Namespace and Name: build it with probe.InPod")
	}
	cs, err := kubernetes.NewForConfig(p.Config)
	if err != nil {
		return -1, fmt.Errorf("probe: %s: client: %w", p, err)
	}
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.Namespace).Name(p.Name).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: p.Container,
		Command:   argv,
		Stdin:     stdio.Stdin != nil,
		Stdout:    true,
		Stderr:    true,
	}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(p.Config, "POST", req.URL())
	if err != nil {
		return -1, fmt.Errorf("probe: %s: exec: %w", p, err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(p.Config, "GET", req.URL().String())
	if err != nil {
		return -1, fmt.Errorf("probe: %s: exec: %w", p, err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return -1, fmt.Errorf("probe: %s: exec: %w", p, err)
	}
	var stdin io.Reader
	if stdio.Stdin != nil {
		stdin = stdio.Stdin
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{
		Stdin:  stdin,
		Stdout: orDiscard(stdio.Stdout),
		Stderr: orDiscard(stdio.Stderr),
	})
	var ce utilexec.CodeExitError
	if errors.As(err, &ce) {
		return ce.Code, nil
	}
	if err != nil {
		return -1, fmt.Errorf("probe: %s: exec %s: %w", p, argv[0], err)
	}
	return 0, nil
}
