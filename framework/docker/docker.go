// Package docker is the harness's one door to the Docker engine: networks,
// containers and images the topologies create, all labelled so they can be
// found and removed again.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Client talks to one Docker engine.
type Client struct {
	api *client.Client
}

// ErrNoEngine means no Docker engine answered.
var ErrNoEngine = errors.New("no Docker engine answers")

// New connects to the engine named by DOCKER_HOST (default: the local
// socket) and checks that it answers.
func New(ctx context.Context) (*Client, error) {
	api, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := api.Ping(pctx); err != nil {
		host := os.Getenv("DOCKER_HOST")
		if host == "" {
			host = client.DefaultDockerHost
		}
		api.Close()
		return nil, fmt.Errorf("%w at %s: start it (hack/docker-up.sh, or `dockerd &`) or set DOCKER_HOST: %v", ErrNoEngine, host, err)
	}
	return &Client{api: api}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.api.Close() }

// API exposes the underlying client for the few callers that need more.
func (c *Client) API() *client.Client { return c.api }

// Network describes a bridge network with a fixed subnet.
type Network struct {
	Name    string
	Subnet  netip.Prefix
	Gateway netip.Addr
	// IPRange limits where Docker picks container addresses; fixed
	// addresses outside it stay free for the router and hosts.
	IPRange netip.Prefix
	Labels  map[string]string
}

// CreateNetwork creates a bridge network. It refuses a subnet that overlaps
// an existing network, naming that network.
func (c *Client) CreateNetwork(ctx context.Context, n Network) (string, error) {
	if clash, err := c.NetworkOverlapping(ctx, n.Subnet); err != nil {
		return "", err
	} else if clash != "" {
		return "", fmt.Errorf("network %s overlaps Docker network %q: pick another node CIDR, or remove %q", n.Subnet, clash, clash)
	}
	cfg := network.IPAMConfig{Subnet: n.Subnet.String()}
	if n.Gateway.IsValid() {
		cfg.Gateway = n.Gateway.String()
	}
	if n.IPRange.IsValid() {
		cfg.IPRange = n.IPRange.String()
	}
	cctx, cancel := uninterrupted(ctx)
	resp, err := c.api.NetworkCreate(cctx, n.Name, network.CreateOptions{
		Driver: "bridge",
		IPAM:   &network.IPAM{Config: []network.IPAMConfig{cfg}},
		Labels: n.Labels,
	})
	cancel()
	if err == nil && ctx.Err() != nil {
		_ = c.RemoveNetwork(context.WithoutCancel(ctx), resp.ID)
		return "", fmt.Errorf("create network %s: %w", n.Name, context.Cause(ctx))
	}
	if err != nil {
		return "", fmt.Errorf("create network %s: %w", n.Name, err)
	}
	return resp.ID, nil
}

// NetworkOverlapping returns the name of an existing network whose subnet
// overlaps p, or "".
func (c *Client) NetworkOverlapping(ctx context.Context, p netip.Prefix) (string, error) {
	nets, err := c.api.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		for _, cfg := range n.IPAM.Config {
			if q, err := netip.ParsePrefix(cfg.Subnet); err == nil && q.Overlaps(p) {
				return n.Name, nil
			}
		}
	}
	return "", nil
}

// RemoveNetwork deletes a network; a missing one is not an error.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	if err := c.api.NetworkRemove(ctx, name); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return nil
}

// Container describes a long-running container on one network.
type Container struct {
	Name  string
	Image string
	// Entrypoint, when set, replaces the image's entrypoint.
	Entrypoint []string
	Cmd        []string
	Network    string
	IP         netip.Addr
	CapAdd     []string
	// Privileged runs with every capability and device (kind nodes do).
	Privileged bool
	Sysctls    map[string]string
	Labels     map[string]string
	Env        []string
}

// createTimeout bounds a create that an interrupt does not cut short.
const createTimeout = time.Minute

// uninterrupted is ctx without its cancellation, bounded by createTimeout:
// the engine may complete a create whose request was abandoned, leaving an
// object no ledger recorded, so creates run to the end and the caller
// removes what an interrupt made unwanted.
func uninterrupted(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
}

// RunContainer creates and starts a container.
func (c *Client) RunContainer(ctx context.Context, s Container) (string, error) {
	cfg := &container.Config{Image: s.Image, Entrypoint: s.Entrypoint, Cmd: s.Cmd, Labels: s.Labels, Env: s.Env, Hostname: s.Name}
	host := &container.HostConfig{CapAdd: s.CapAdd, Sysctls: s.Sysctls, Privileged: s.Privileged}
	var netCfg *network.NetworkingConfig
	if s.Network != "" {
		host.NetworkMode = container.NetworkMode(s.Network)
		ep := &network.EndpointSettings{}
		if s.IP.IsValid() {
			ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: s.IP.String()}
		}
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.Network: ep}}
	}
	cctx, cancel := uninterrupted(ctx)
	created, err := c.api.ContainerCreate(cctx, cfg, host, netCfg, nil, s.Name)
	cancel()
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", s.Name, err)
	}
	if ctx.Err() != nil {
		_ = c.RemoveContainer(context.WithoutCancel(ctx), created.ID)
		return "", fmt.Errorf("create container %s: %w", s.Name, context.Cause(ctx))
	}
	if err := c.api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		_ = c.RemoveContainer(context.WithoutCancel(ctx), created.ID)
		return "", fmt.Errorf("start container %s: %w", s.Name, err)
	}
	return created.ID, nil
}

// RemoveContainer force-removes a container and its anonymous volumes; a
// missing one is not an error. One the engine is already removing (for a
// run that exited mid-teardown, say) is waited for until it is gone.
func (c *Client) RemoveContainer(ctx context.Context, name string) error {
	err := c.api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || isNotFound(err) {
		return nil
	}
	if removalInProgress(err) {
		return c.awaitRemoval(ctx, name, removalWait)
	}
	return fmt.Errorf("remove container %s: %w", name, err)
}

// removalWait bounds the wait for a removal another caller started.
var removalWait = time.Minute

func removalInProgress(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

// awaitRemoval polls until name is gone. Should the other removal end and
// leave the container (its status no longer "removing"), it removes it once
// itself.
func (c *Client) awaitRemoval(ctx context.Context, name string, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := c.api.ContainerInspect(ctx, name)
		switch {
		case isNotFound(err):
			return nil
		case err == nil && info.State != nil && info.State.Status != "removing":
			err = c.api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err == nil || isNotFound(err) {
				return nil
			}
			if !removalInProgress(err) {
				return fmt.Errorf("remove container %s (after another removal left it %s): %w", name, info.State.Status, err)
			}
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("remove container %s: the engine was already removing it and it is still there after %s; see `docker inspect %s`", name, bound, name)
			}
			return fmt.Errorf("remove container %s: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}

// ContainerPID returns the host PID of a running container's init process
// (its network namespace is /proc/PID/ns/net).
func (c *Client) ContainerPID(ctx context.Context, name string) (int, error) {
	info, err := c.api.ContainerInspect(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("inspect container %s: %w", name, err)
	}
	if info.State == nil || !info.State.Running {
		return 0, fmt.Errorf("container %s is not running (%s)", name, stateOf(info.State))
	}
	return info.State.Pid, nil
}

func stateOf(s *container.State) string {
	if s == nil {
		return "no state"
	}
	return fmt.Sprintf("status %s, exit code %d", s.Status, s.ExitCode)
}

// Logs returns a container's output, stdout and stderr interleaved.
func (c *Client) Logs(ctx context.Context, name string) (string, error) {
	rc, err := c.api.ContainerLogs(ctx, name, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", fmt.Errorf("logs of %s: %w", name, err)
	}
	defer rc.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil && !errors.Is(err, io.EOF) {
		return out.String(), err
	}
	return out.String(), nil
}

// ImageExists reports whether an image is present locally.
func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := c.api.ImageInspect(ctx, ref)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Object is something the harness created, found by its labels.
type Object struct {
	Kind    string // container, network or volume
	Name    string
	ID      string // the engine's ID (a volume's is its name)
	Labels  map[string]string
	Created time.Time
}

// ListLabelled lists containers, networks and volumes carrying label.
func (c *Client) ListLabelled(ctx context.Context, label string) ([]Object, error) {
	f := filters.NewArgs(filters.Arg("label", label))
	var out []Object
	cs, err := c.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, ct := range cs {
		name := ct.ID
		if len(ct.Names) > 0 {
			name = strings.TrimPrefix(ct.Names[0], "/")
		}
		out = append(out, Object{Kind: "container", Name: name, ID: ct.ID, Labels: ct.Labels, Created: time.Unix(ct.Created, 0)})
	}
	ns, err := c.api.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns {
		out = append(out, Object{Kind: "network", Name: n.Name, ID: n.ID, Labels: n.Labels, Created: n.Created})
	}
	vs, err := c.api.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vs.Volumes {
		created, _ := time.Parse(time.RFC3339, v.CreatedAt)
		out = append(out, Object{Kind: "volume", Name: v.Name, ID: v.Name, Labels: v.Labels, Created: created})
	}
	return out, nil
}

// Remove deletes an object found by ListLabelled.
func (c *Client) Remove(ctx context.Context, o Object) error {
	switch o.Kind {
	case "container":
		return c.RemoveContainer(ctx, o.Name)
	case "network":
		return c.RemoveNetwork(ctx, o.Name)
	case "volume":
		if err := c.api.VolumeRemove(ctx, o.Name, true); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove volume %s: %w", o.Name, err)
		}
		return nil
	}
	return fmt.Errorf("unknown object kind %q", o.Kind)
}

func isNotFound(err error) bool {
	return err != nil && (client.IsErrNotFound(err) || strings.Contains(err.Error(), "No such"))
}

// RootDir is the engine's data directory (where images and volumes live).
func (c *Client) RootDir(ctx context.Context) (string, error) {
	info, err := c.api.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("docker info: %w", err)
	}
	return info.DockerRootDir, nil
}

// Wait waits for a container to stop and returns its exit code.
func (c *Client) Wait(ctx context.Context, name string) (int, error) {
	okc, errc := c.api.ContainerWait(ctx, name, container.WaitConditionNotRunning)
	select {
	case res := <-okc:
		if res.Error != nil {
			return int(res.StatusCode), fmt.Errorf("wait for %s: %s", name, res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-errc:
		return -1, fmt.Errorf("wait for %s: %w", name, err)
	}
}
