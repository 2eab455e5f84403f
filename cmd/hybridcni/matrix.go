package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/internal/table"
	"github.com/hybridcni/hybridcni/suites"
)

func init() { register(newMatrixCmd) }

func newMatrixCmd() *cobra.Command {
	var sf suiteFlags
	var file, only, output string
	var parallel int
	var list, upgradesAlone bool
	cmd := &cobra.Command{
		Use:   "matrix -f MATRIX",
		Short: "Run every entry of a matrix file (one process and cluster each, --parallel at once) and merge the report",
		Example: `  hybridcni matrix -f fixtures/matrix/nightly.yaml --parallel 2
  hybridcni matrix -f fixtures/matrix/nightly.yaml --only cilium-1-16-19 --results results`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return invalidf("matrix needs -f FILE (a kind: Matrix file)")
			}
			if parallel < 1 {
				return invalidf("--parallel must be 1 or more, got %d", parallel)
			}
			runs, err := config.LoadMatrix(file)
			if err != nil {
				return err
			}
			if runs, err = selectRuns(runs, only); err != nil {
				return err
			}
			runs, dropped := supportedPairs(runs)
			for _, d := range dropped {
				fmt.Fprintf(cmd.ErrOrStderr(), "matrix: not run: %s\n", d)
			}
			if len(runs) == 0 {
				return invalidf("no entry left to run: each pairs its CNI with a Kubernetes version the CNI declares unsupported")
			}
			if list {
				return listRuns(cmd.OutOrStdout(), runs, output)
			}
			if sf.dryRun {
				return suites.Run(cmd.Context(), sf.options(runs, sf.results))
			}
			if parallel > 1 {
				if runs, err = distinctNodeCIDRs(runs); err != nil {
					return err
				}
			}
			return runMatrix(cmd.Context(), cmd.OutOrStdout(), runs, sf, parallel, upgradesAlone)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "matrix file (kind: Matrix)")
	cmd.Flags().StringVar(&only, "only", "", "run only these entries (comma-separated names)")
	cmd.Flags().IntVar(&parallel, "parallel", 1, "entries (clusters) at once; each gets its own names and node CIDR")
	cmd.Flags().BoolVar(&upgradesAlone, "upgrades-alone", true, "with --parallel: an entry that upgrades runs with no other beside it, so its disruption meter measures the CNI and not the other clusters on the CPU (false: beside others, one upgrade chain at a time)")
	cmd.Flags().BoolVar(&list, "list", false, "list the entries (after --only), run nothing")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "with --list: text (a table, one entry a row) or json (an array for a CI matrix); both give name, cni, version, upgradeTo, kubernetes, bgp, masquerade")
	sf.add(cmd.Flags())
	cmd.Flags().Lookup("node-image").Usage = "kind provider: node image of every entry, {kubernetes} replaced by the entry's Kubernetes version (hybridcni/node:v{kubernetes} for the offline ones; default: the one pinned for that version)"
	return cmd
}

// kubernetesSupporter is implemented by CNI profiles that declare which
// Kubernetes versions a CNI version runs on (Cilium: its tested range).
type kubernetesSupporter interface {
	RunsOnKubernetes(cniVersion, kubernetesVersion string) (bool, string)
}

// supportedPairs drops the entries whose CNI declares their Kubernetes
// version unsupported (at the version installed or the one upgraded to),
// returning one line per entry dropped: its name and why.
func supportedPairs(runs []config.Run) (keep []config.Run, dropped []string) {
	for _, r := range runs {
		p, err := cni.Lookup(r.CNI.Name)
		s, ok := p.(kubernetesSupporter)
		if err != nil || !ok {
			keep = append(keep, r)
			continue
		}
		why := ""
		for _, v := range []string{r.CNI.Version, r.CNI.UpgradeTo} {
			if v == "" {
				continue
			}
			if runs, reason := s.RunsOnKubernetes(v, r.Kubernetes.Version); !runs {
				why = reason
				break
			}
		}
		if why != "" {
			dropped = append(dropped, fmt.Sprintf("%s (%s %s on Kubernetes %s): %s", r.Name, r.CNI.Name, r.CNI.Version, r.Kubernetes.Version, why))
			continue
		}
		keep = append(keep, r)
	}
	return keep, dropped
}

// entryNodeImage is the node image of one matrix entry: image with
// {kubernetes} replaced by the entry's Kubernetes version (the offline node
// images are hybridcni/node:v{kubernetes}).
func entryNodeImage(image string, r config.Run) string {
	return strings.ReplaceAll(image, "{kubernetes}", strings.TrimPrefix(r.Kubernetes.Version, "v"))
}

func selectRuns(runs []config.Run, only string) ([]config.Run, error) {
	if only == "" {
		return runs, nil
	}
	byName := map[string]config.Run{}
	var names []string
	for _, r := range runs {
		byName[r.Name] = r
		names = append(names, r.Name)
	}
	var out []config.Run
	for _, n := range strings.Split(only, ",") {
		r, ok := byName[strings.TrimSpace(n)]
		if !ok {
			return nil, config.Invalid("only", fmt.Sprintf("no entry named %q", n), "use one of: "+strings.Join(names, ", "))
		}
		out = append(out, r)
	}
	return out, nil
}

// distinctNodeCIDRs moves entries that share a node CIDR to the next free
// one of the same size, with the router at the same offset, so parallel
// entries get Docker networks that do not overlap.
func distinctNodeCIDRs(runs []config.Run) ([]config.Run, error) {
	var taken []netip.Prefix
	out := make([]config.Run, len(runs))
	for i, r := range runs {
		p := netip.MustParsePrefix(r.Network.NodeCIDR)
		router := netip.MustParseAddr(r.BGP.RouterAddress)
		offset := addrToUint(router) - addrToUint(p.Addr())
		for tries := 0; overlapsAny(p, taken); tries++ {
			next := addrToUint(p.Addr()) + 1<<(32-p.Bits())
			if tries > 256 || next < addrToUint(p.Addr()) {
				return nil, config.Invalid(fmt.Sprintf("entries[%d].network.nodeCIDR", i), "no free node CIDR for a parallel entry", "give entries distinct node CIDRs")
			}
			p = netip.PrefixFrom(uintToAddr(next), p.Bits())
		}
		if p.String() != r.Network.NodeCIDR {
			r.Network.NodeCIDR = p.String()
			r.BGP.RouterAddress = uintToAddr(addrToUint(p.Addr()) + offset).String()
			if err := r.Validate(); err != nil {
				return nil, fmt.Errorf("entry %s moved to node CIDR %s: %w", r.Name, p, err)
			}
		}
		taken = append(taken, p)
		out[i] = r
	}
	return out, nil
}

func overlapsAny(p netip.Prefix, ps []netip.Prefix) bool {
	for _, q := range ps {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

func addrToUint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uintToAddr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

type entryResult struct {
	name     string
	code     int
	duration time.Duration
	err      error
}

// runMatrix runs each entry as `hybridcni run -f ENTRY` in its own process,
// parallel at most at once, longest first (entryQueue: with upgradesAlone
// an upgrade runs with nothing beside it), then writes the merged matrix
// report.
func runMatrix(ctx context.Context, out io.Writer, runs []config.Run, sf suiteFlags, parallel int, upgradesAlone bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(sf.results, 0o755); err != nil {
		return err
	}
	results := make([]entryResult, len(runs))
	q := newEntryQueue(runs, upgradesAlone)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range min(parallel, len(runs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := q.next()
				if !ok {
					return
				}
				r := runs[i]
				mu.Lock()
				if ctx.Err() != nil { // interrupted: start nothing more
					results[i] = entryResult{name: r.Name, code: 1, err: ctx.Err()}
					fmt.Fprintf(out, "%-44s not started: %v\n", r.Name, context.Cause(ctx))
					mu.Unlock()
					q.done(i)
					continue
				}
				fmt.Fprintf(out, "%-44s started\n", r.Name)
				mu.Unlock()
				res := runEntry(ctx, self, r, sf)
				mu.Lock()
				results[i] = res
				fmt.Fprintf(out, "%-44s exit %d in %s\n", r.Name, res.code, res.duration.Round(time.Second))
				mu.Unlock()
				q.done(i)
			}
		}()
	}
	wg.Wait()

	failed := 0
	for _, res := range results {
		if res.code != 0 {
			failed++
		}
	}
	if all, err := report.ReadAll(sf.results); err == nil {
		m := report.Build(all)
		report.Sources = []string{sf.results} // the header names where the results came from
		_ = os.WriteFile(filepath.Join(sf.results, "matrix.md"), []byte(m.Markdown()), 0o644)
		if page, err := m.HTML("CNI compatibility on EKS hybrid nodes"); err == nil {
			_ = os.WriteFile(filepath.Join(sf.results, "matrix.html"), []byte(page), 0o644)
		}
		fmt.Fprintf(out, "\n%s\nmatrix report: %s\n", m.Markdown(), filepath.Join(sf.results, "matrix.html"))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d matrix entries failed (see %s/<entry>/)", failed, len(runs), sf.results)
	}
	return nil
}

func runEntry(ctx context.Context, self string, r config.Run, sf suiteFlags) entryResult {
	start := time.Now()
	dir := filepath.Join(sf.results, r.Name)
	res := entryResult{name: r.Name}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.code, res.err = 1, err
		return res
	}
	doc, _ := yaml.Marshal(r)
	runFile := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(runFile, doc, 0o644); err != nil {
		res.code, res.err = 1, err
		return res
	}
	args := []string{"run", "-f", runFile, "--results", dir, "--provider", sf.provider, "--topology", sf.topology,
		"--timeout", sf.timeout.String(), "--wait-timeout", sf.waitTimeout.String(), "--disruption-max-gap", sf.maxGap.String(),
		"--disruption-max-loss", fmt.Sprint(sf.maxLoss)}
	if sf.nodeImage != "" {
		args = append(args, "--node-image", entryNodeImage(sf.nodeImage, r))
	}
	if sf.labelFilter != "" {
		args = append(args, "--label-filter", sf.labelFilter)
	}
	if sf.keep {
		args = append(args, "--keep")
	}
	log, err := os.Create(filepath.Join(dir, "run.log"))
	if err != nil {
		res.code, res.err = 1, err
		return res
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// On interrupt the entry gets SIGTERM and time to tear its cluster down.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 6 * time.Minute
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	err = cmd.Run()
	res.duration = time.Since(start)
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		res.code, res.err = 1, err
	}
	return res
}

// listedRun is one matrix entry as `matrix --list -o json` prints it: what a
// CI job needs to name, select (--only name) and provision the entry.
type listedRun struct {
	Name       string `json:"name"`
	CNI        string `json:"cni"`
	Version    string `json:"version"`
	UpgradeTo  string `json:"upgradeTo,omitempty"`
	Kubernetes string `json:"kubernetes"`
	BGP        bool   `json:"bgp"`
	Masquerade bool   `json:"masquerade"`
}

func listRuns(out io.Writer, runs []config.Run, format string) error {
	switch format {
	case "text", "":
		t := table.New(out, "name", "cni", "version", "upgrade to", "kubernetes", "bgp", "masquerade")
		for _, r := range runs {
			t.Row(r.Name, r.CNI.Name, r.CNI.Version, r.CNI.UpgradeTo, r.Kubernetes.Version, r.BGP.Enabled, r.Network.Masquerade)
		}
		return t.Flush()
	case "json":
		list := make([]listedRun, len(runs))
		for i, r := range runs {
			list[i] = listedRun{Name: r.Name, CNI: r.CNI.Name, Version: r.CNI.Version, UpgradeTo: r.CNI.UpgradeTo,
				Kubernetes: r.Kubernetes.Version, BGP: r.BGP.Enabled, Masquerade: r.Network.Masquerade}
		}
		data, err := json.Marshal(list)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(data))
		return err
	}
	return invalidf("-o must be text or json, got %q", format)
}
