// Package chart is the harness's only door to the Helm v3 SDK: it finds a
// chart version in a chart source (an https repository, a local folder with
// index.yaml, a chart archive or an unpacked chart) and renders it offline for
// a given Kubernetes version. Lifecycle actions (install, upgrade, rollback,
// uninstall) belong here too, so a move to another Helm major stays small.
package chart

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/versions"
)

// Configuration fields this package reports problems on.
const (
	FieldSource  = "cni.chartSource"
	FieldVersion = "cni.version"
)

const sourceFix = "set cni.chartSource (--chart-repo) to a Helm repository URL (https://...), " +
	"a folder holding index.yaml and chart archives, a chart archive (.tgz) or an unpacked chart folder"

// Kind says what a chart source is.
type Kind string

// Kinds of chart source.
const (
	Repository Kind = "repository" // http(s) URL serving index.yaml
	Folder     Kind = "folder"     // local folder with index.yaml and archives
	Archive    Kind = "archive"    // one chart archive (.tgz)
	ChartDir   Kind = "chart"      // one unpacked chart folder (Chart.yaml)
)

// Source is where charts come from. It is safe for concurrent use and reads
// a repository index at most once.
type Source struct {
	Location string
	Kind     Kind

	transport *http.Transport
	caFile    string
	timeout   time.Duration

	once  sync.Once
	index *repo.IndexFile
	err   error
	// single is the chart of an Archive or ChartDir source.
	single *helmchart.Chart
}

// Option configures a Source.
type Option func(*Source)

// WithTransport sets the HTTP transport for repositories (e.g. one trusting a test CA).
func WithTransport(t *http.Transport) Option { return func(s *Source) { s.transport = t } }

// WithCAFile trusts the CA certificates in file for https repositories.
func WithCAFile(file string) Option { return func(s *Source) { s.caFile = file } }

// WithTimeout bounds each HTTP request to a repository (default 60 s).
func WithTimeout(d time.Duration) Option { return func(s *Source) { s.timeout = d } }

// NewSource classifies location. A local path that does not exist, or a
// folder that is neither a repository folder nor a chart, is a
// *config.Error naming cni.chartSource.
func NewSource(location string, opts ...Option) (*Source, error) {
	s := &Source{Location: strings.TrimSpace(location), timeout: 60 * time.Second}
	for _, o := range opts {
		o(s)
	}
	loc := s.Location
	if loc == "" {
		return nil, config.Invalid(FieldSource, "is empty", sourceFix)
	}
	if u, err := url.Parse(loc); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		switch u.Scheme {
		case "http", "https":
			s.Kind = Repository
			return s, nil
		case "file":
			loc = u.Path
		default:
			return nil, config.Invalid(FieldSource, fmt.Sprintf("%q: scheme %s is not supported", loc, u.Scheme), sourceFix)
		}
	}
	st, err := os.Stat(loc)
	switch {
	case err != nil:
		return nil, config.Invalid(FieldSource, fmt.Sprintf("%q does not exist", loc), sourceFix)
	case !st.IsDir():
		s.Kind = Archive
	case exists(filepath.Join(loc, "index.yaml")):
		s.Kind = Folder
	case exists(filepath.Join(loc, "Chart.yaml")):
		s.Kind = ChartDir
	default:
		return nil, config.Invalid(FieldSource, fmt.Sprintf("folder %q holds neither index.yaml nor Chart.yaml", loc), sourceFix)
	}
	s.Location = loc
	return s, nil
}

// Versions lists the versions of chart name the source offers, ascending, as
// the source spells them.
func (s *Source) Versions(ctx context.Context, name string) ([]string, error) {
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if s.single != nil {
		if s.single.Name() != name {
			return nil, s.wrongChart(name, []string{s.single.Name()})
		}
		return []string{s.single.Metadata.Version}, nil
	}
	cvs, ok := s.index.Entries[name]
	if !ok {
		return nil, s.wrongChart(name, sortedKeys(s.index.Entries))
	}
	var list []string
	for _, cv := range cvs {
		if !cv.Removed {
			list = append(list, cv.Version)
		}
	}
	return versions.Sorted(list), nil
}

// Resolve returns the source's spelling of version for chart name ("3.29.7"
// finds "v3.29.7"). A missing version is a *config.Error naming cni.version
// and listing the nearest available versions.
func (s *Source) Resolve(ctx context.Context, name, version string) (string, error) {
	return s.ResolveField(ctx, FieldVersion, name, version)
}

// ResolveField is Resolve reporting a missing version on field (e.g. cni.upgradeTo).
func (s *Source) ResolveField(ctx context.Context, field, name, version string) (string, error) {
	list, err := s.Versions(ctx, name)
	if err != nil {
		return "", err
	}
	if v, ok := versions.Find(list, version); ok {
		return v, nil
	}
	return "", NotFound(field, name, version, s.Location, list)
}

// NotFound is the *config.Error for a version missing from a source's list.
func NotFound(field, name, version, location string, list []string) error {
	near := versions.Nearest(list, version, 4)
	msg := fmt.Sprintf("%s %s is not in %s", name, version, location)
	fix := "pick an available version"
	if len(near) > 0 {
		msg += "; nearest available: " + strings.Join(near, ", ")
		fix = "pick one of: " + strings.Join(near, ", ")
	} else {
		fix = "the source has no versions of " + name + "; " + sourceFix
	}
	return config.Invalid(field, msg, fix)
}

// Load fetches and loads chart name at version (either spelling of a leading "v").
func (s *Source) Load(ctx context.Context, name, version string) (*Chart, error) {
	v, err := s.Resolve(ctx, name, version)
	if err != nil {
		return nil, err
	}
	if s.single != nil {
		return &Chart{c: s.single, Origin: s.Location, src: s}, nil
	}
	var cv *repo.ChartVersion
	for _, e := range s.index.Entries[name] {
		if e.Version == v {
			cv = e
			break
		}
	}
	if cv == nil || len(cv.URLs) == 0 {
		return nil, fmt.Errorf("chart %s %s in %s has no download URL", name, v, s.Location)
	}
	data, where, err := s.fetch(ctx, cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("download chart %s %s: %w", name, v, err)
	}
	if cv.Digest != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != cv.Digest {
			return nil, fmt.Errorf("chart %s %s from %s: sha256 %s does not match the index digest %s", name, v, where, got, cv.Digest)
		}
	}
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("load chart %s %s from %s: %w", name, v, where, err)
	}
	if c.Name() != name {
		return nil, fmt.Errorf("%s holds chart %q, the index says %q", where, c.Name(), name)
	}
	return &Chart{c: c, Origin: where, src: s}, nil
}

func (s *Source) wrongChart(want string, have []string) error {
	return config.Invalid(FieldSource, fmt.Sprintf("%s has no chart %q (it has: %s)", s.Location, want, strings.Join(have, ", ")),
		"point cni.chartSource at a source that publishes "+want+", or pick the CNI that matches this source")
}

func (s *Source) load(ctx context.Context) error {
	s.once.Do(func() {
		switch s.Kind {
		case Archive:
			s.single, s.err = loader.LoadFile(s.Location)
		case ChartDir:
			s.single, s.err = loader.LoadDir(s.Location)
		case Folder:
			s.index, s.err = repo.LoadIndexFile(filepath.Join(s.Location, "index.yaml"))
		case Repository:
			s.index, s.err = s.downloadIndex(ctx)
		}
		if s.err != nil {
			fix := "point --chart-repo at an existing chart archive, chart folder, or folder holding index.yaml and the archives"
			if s.Kind == Repository {
				fix = "check that the repository answers from here, or pass --chart-repo a local folder holding index.yaml and the chart archives (e.g. ../shared/charts)"
			}
			// Not invalid configuration (the source may answer later): the
			// field and the fix in the message, the cause still wrapped.
			s.err = fmt.Errorf("%s: cannot read %s: %w (fix: %s)", FieldChartSource, s.Location, s.err, fix)
		}
	})
	return s.err
}

// downloadIndex reads a repository's index.yaml with Helm's own repository client.
func (s *Source) downloadIndex(ctx context.Context) (*repo.IndexFile, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cache, err := os.MkdirTemp("", "hybridcni-index-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cache)
	r, err := repo.NewChartRepository(&repo.Entry{Name: "source", URL: s.Location, CAFile: s.caFile}, s.getters())
	if err != nil {
		return nil, err
	}
	r.CachePath = cache
	file, err := r.DownloadIndexFile()
	if err != nil {
		return nil, err
	}
	return repo.LoadIndexFile(file)
}

// fetch reads a chart archive named by an index entry: relative names are
// relative to the source (URL or folder).
func (s *Source) fetch(ctx context.Context, ref string) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, ref, err
	}
	u, err := url.Parse(ref)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https" || s.Kind == Repository) {
		full, err := repo.ResolveReferenceURL(s.Location, ref)
		if err != nil {
			return nil, ref, err
		}
		g, err := getter.NewHTTPGetter(s.getterOptions()...)
		if err != nil {
			return nil, full, err
		}
		buf, err := g.Get(full, getter.WithURL(s.Location))
		if err != nil {
			return nil, full, err
		}
		return buf.Bytes(), full, nil
	}
	path := ref
	if err == nil && u.Scheme == "file" {
		path = u.Path
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(s.Location, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, path, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	return data, path, err
}

func (s *Source) getterOptions() []getter.Option {
	opts := []getter.Option{getter.WithTimeout(s.timeout)}
	if s.transport != nil {
		opts = append(opts, getter.WithTransport(s.transport))
	}
	if s.caFile != "" {
		opts = append(opts, getter.WithTLSClientConfig("", "", s.caFile))
	}
	return opts
}

func (s *Source) getters() getter.Providers {
	return getter.Providers{{
		Schemes: []string{"http", "https"},
		New: func(o ...getter.Option) (getter.Getter, error) {
			return getter.NewHTTPGetter(append(s.getterOptions(), o...)...)
		},
	}}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
