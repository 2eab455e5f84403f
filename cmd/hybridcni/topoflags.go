package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/topologies"
	"github.com/hybridcni/hybridcni/topologies/doctor"
)

// topoFlags are the flags shared by up, doctor and images: the run flags
// (-f and per-field overrides) plus the topology's own.
type topoFlags struct {
	rf         *runFlags
	topology   string
	nodeImage  string
	dockerOnly bool
}

func (t *topoFlags) add(cmd *cobra.Command) {
	t.rf = addRunFlags(cmd).withUpgradeTo()
	t.addOwn(cmd)
}

// imageRunFlags are the run flags that decide which images a run needs.
var imageRunFlags = []string{"cni", "version", "upgrade-to", "chart-repo", "kubernetes-version", "values"}

// addForImages registers only the flags `images list` and `images save` use:
// the run flags that decide the images, and the topology's own.
func (t *topoFlags) addForImages(cmd *cobra.Command) {
	t.rf = addRunFlagsOnly(cmd, true, imageRunFlags...)
	t.addOwn(cmd)
}

func (t *topoFlags) addOwn(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&t.topology, "topology", "default", "topology: "+fmt.Sprint(topologies.Builtin())+" or a topology file")
	f.StringVar(&t.nodeImage, "node-image", "", "kind node image (default: the one pinned for the Kubernetes version)")
	f.BoolVar(&t.dockerOnly, "docker-only", false, "only the Docker side: node network, router, on-prem host (no kind cluster)")
}

// load reads and validates the run and the topology.
func (t *topoFlags) load() (config.Run, topologies.Topology, error) {
	r, err := t.rf.run()
	if err != nil {
		return r, topologies.Topology{}, err
	}
	if _, err := topologies.PlanAddresses(r); err != nil {
		return r, topologies.Topology{}, t.rf.annotate(err)
	}
	topo, err := topologies.Load(t.topology)
	if err != nil {
		return r, topo, err
	}
	if !t.dockerOnly && t.nodeImage == "" {
		if _, err := topologies.NodeImage(r.Kubernetes.Version); err != nil {
			return r, topo, t.rf.annotate(err)
		}
	}
	return r, topo, nil
}

func (t *topoFlags) images(r config.Run) topologies.Images {
	im := harnessImages()
	im.Node = t.nodeImage
	if im.Node == "" && !t.dockerOnly {
		im.Node, _ = topologies.NodeImage(r.Kubernetes.Version)
	}
	return im
}

// doctorOptions are the checks up and doctor share.
func (t *topoFlags) doctorOptions(dc *docker.Client, dcErr error, r config.Run, topo topologies.Topology) doctor.Options {
	im := t.images(r)
	o := doctor.Options{DockerErr: dcErr, Cluster: !t.dockerOnly, Nodes: 1 + r.Nodes.Hybrid + r.Nodes.Cloud,
		NodeImage: im.Node, Offline: doctor.OfflineFromEnv(), Buildable: buildable}
	if dc != nil {
		o.Docker = dc
		o.LocalNodeImages = topologies.LocalNodeImages(dc)
		o.ProbePrivileged = privilegedProbe(dc, im)
	}
	if topo.Router {
		o.Images = append(o.Images, im.Router)
	}
	if topo.OnPremHost {
		o.Images = append(o.Images, im.Echo)
	}
	return o
}

// stateDir is where runs keep their ledger and kubeconfig.
func stateDir(flag string) string {
	switch {
	case flag != "":
		return flag
	case os.Getenv("HYBRIDCNI_STATE_DIR") != "":
		return os.Getenv("HYBRIDCNI_STATE_DIR")
	case os.Getenv("XDG_STATE_HOME") != "":
		return filepath.Join(os.Getenv("XDG_STATE_HOME"), "hybridcni")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "hybridcni")
	}
	return filepath.Join(home, ".local", "state", "hybridcni")
}

// secondSignal returns a channel closed on the second SIGINT/SIGTERM/SIGHUP of the
// command (the first one cancels the command's context, see execute). It
// prints a line on the first so the user knows teardown is under way.
func secondSignal(stderr io.Writer) (<-chan struct{}, func()) {
	sigs := make(chan os.Signal, 2)
	// Not SIGPIPE: each line written to a gone reader raises one.
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	abort := make(chan struct{})
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case s := <-sigs:
				n++
				if n == 1 {
					fmt.Fprintf(stderr, "%s: removing what this run created (signal again to exit at once)\n", s)
					continue
				}
				close(abort)
				return
			case <-done:
				return
			}
		}
	}()
	return abort, func() { signal.Stop(sigs); close(done) }
}

// leftBehind prints what a stopped teardown left and the gc command.
func leftBehind(stderr io.Writer, err error) {
	var lb *topologies.LeftBehindError
	if errors.As(err, &lb) {
		fmt.Fprintf(stderr, "left behind by %s:\n", lb.Run)
		for _, e := range lb.Left {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
		fmt.Fprintf(stderr, "remove them with: %s\n", topologies.GCCommand(lb.Run))
	}
}

// engine connects to Docker with a bounded wait.
func engine(ctx context.Context) (*docker.Client, error) {
	return docker.New(ctx)
}

// privilegedProbe starts and removes a privileged container from an image
// already here (the router image, else the node image); nil when neither is.
func privilegedProbe(dc *docker.Client, im topologies.Images) func(context.Context) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c docker.Container
	if ok, _ := dc.ImageExists(ctx, im.Router); ok {
		c = docker.Container{Image: im.Router, Entrypoint: []string{topologies.ImageBin}, Cmd: []string{"--help"}}
	} else if ok, _ := dc.ImageExists(ctx, im.Node); ok && im.Node != "" {
		c = docker.Container{Image: im.Node, Entrypoint: []string{"true"}}
	} else {
		return nil
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c.Name = topologies.UniqueName("doctor")
		c.Privileged = true
		c.Labels = topologies.ObjectLabels(c.Name, time.Now())
		defer dc.RemoveContainer(context.WithoutCancel(ctx), c.Name)
		if _, err := dc.RunContainer(ctx, c); err != nil {
			return err
		}
		code, err := dc.Wait(ctx, c.Name)
		if err != nil {
			return err
		}
		if code != 0 {
			logs, _ := dc.Logs(ctx, c.Name)
			return fmt.Errorf("%s exited %d: %s", c.Image, code, logs)
		}
		return nil
	}
}
