package kind

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// imageSaver is what writes image archives (the Docker engine).
type imageSaver interface {
	SaveImages(ctx context.Context, refs []string, w io.Writer) error
}

// savedArchive is one archive written ahead; done closes when it is
// written or failed (err).
type savedArchive struct {
	refs []string
	path string
	took time.Duration
	err  error
	done chan struct{}
}

// archivesAhead writes a run's image archives, one after the other, while
// the kind cluster is created: saving the chain's images took about a
// minute (13 s the install version's, 52 s the hops'), time the cluster's
// creation leaves the disk mostly idle. The loads then only wait for the
// archive they need.
type archivesAhead struct {
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
	items  []*savedArchive
}

// saveAhead starts writing one archive per non-empty set of refs, in
// order, into dir (created; removed by stop).
func saveAhead(dc imageSaver, dir string, sets ...[]string) (*archivesAhead, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &archivesAhead{dir: dir, cancel: cancel, done: make(chan struct{})}
	for i, refs := range sets {
		a.items = append(a.items, &savedArchive{refs: refs, path: filepath.Join(dir, fmt.Sprintf("images-%d.tar", i)), done: make(chan struct{})})
	}
	go func() {
		defer close(a.done)
		for _, it := range a.items {
			if len(it.refs) > 0 {
				it.err = writeArchive(ctx, dc, it)
			}
			close(it.done)
		}
	}()
	return a, nil
}

func writeArchive(ctx context.Context, dc imageSaver, it *savedArchive) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Create(it.path)
	if err != nil {
		return err
	}
	start := time.Now()
	err = dc.SaveImages(ctx, it.refs, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	it.took = time.Since(start)
	return err
}

// archive waits for the i-th archive to be written.
func (a *archivesAhead) archive(ctx context.Context, i int) (*savedArchive, error) {
	it := a.items[i]
	select {
	case <-it.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if it.err != nil {
		return nil, fmt.Errorf("save %v to %s: %w", it.refs, it.path, it.err)
	}
	return it, nil
}

// stop cancels what is still being written, waits for it, and removes the
// archives. It may be called more than once.
func (a *archivesAhead) stop() {
	if a == nil {
		return
	}
	a.cancel()
	<-a.done
	if err := os.RemoveAll(a.dir); err != nil {
		fmt.Fprintf(os.Stderr, "kind provider: %v\n", err)
	}
}
