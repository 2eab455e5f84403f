package kind

import (
	"context"
	"fmt"
	"strings"
)

// versionImages are the images one CNI version brings to a run (those no
// earlier version needed), as one archive loads them.
type versionImages struct {
	version string
	refs    []string
	// saved, when set, is refs saved already (or being saved).
	saved *savedImages
}

// imageLoader loads the images of a run's versions in the background, one
// version after the other: the install version's while the cloud side comes
// up and the checks before the CNI run, then the later versions' (its
// upgrade hops) while the earlier ones are installed and checked (a chain's
// images took about 2.5 minutes to save and load before the install, and
// the hops need them only later). Wait blocks the install or a hop until
// its version's images are in.
type imageLoader struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the loader's goroutine returned
	// ready holds the versions with nothing to load (the install version
	// when none of its images is local): Wait returns at once for them.
	ready map[string]bool
	steps []*loadStep
}

// loadStep is one version's load: done is closed when it finished, failed
// or was given up; err is then its outcome.
type loadStep struct {
	versionImages
	done chan struct{}
	err  error
}

// startImageLoader starts one goroutine that calls load for each of
// versions in order, one at a time, until one fails or Stop is called;
// ready names the versions whose images are in already. load gets a
// context that Stop cancels.
func startImageLoader(ready []string, versions []versionImages, load func(ctx context.Context, v versionImages) error) *imageLoader {
	ctx, cancel := context.WithCancel(context.Background())
	l := &imageLoader{cancel: cancel, done: make(chan struct{}), ready: map[string]bool{}}
	for _, v := range ready {
		l.ready[normVersion(v)] = true
	}
	for _, v := range versions {
		l.steps = append(l.steps, &loadStep{versionImages: v, done: make(chan struct{})})
	}
	go l.run(ctx, load)
	return l
}

func (l *imageLoader) run(ctx context.Context, load func(context.Context, versionImages) error) {
	defer close(l.done)
	var failed error // the first failure, which every later version inherits
	for _, s := range l.steps {
		switch {
		case failed != nil:
			s.err = fmt.Errorf("the images of %s were not loaded into the kind nodes: an earlier version's load failed: %w", s.version, failed)
		case ctx.Err() != nil:
			failed = fmt.Errorf("the background image loader was stopped before the images of %s (%s) were loaded: %w", s.version, refList(s.refs), ctx.Err())
			s.err = failed
		default:
			if err := load(ctx, s.versionImages); err != nil {
				failed = fmt.Errorf("load the images of %s (%s) into the kind nodes in the background: %w", s.version, refList(s.refs), err)
				s.err = failed
			}
		}
		close(s.done)
	}
}

// Wait blocks until version's images are loaded, and returns nil then; the
// load's error (naming the version and images) when it or an earlier
// version's failed, or the loader was stopped; ctx's error when ctx ends
// first. The install version is ready at once; a version the loader does
// not know (no image of its own) waits for every version to be in.
func (l *imageLoader) Wait(ctx context.Context, version string) error {
	v := normVersion(version)
	if l.ready[v] {
		return nil
	}
	var step *loadStep
	done := l.done
	for _, s := range l.steps {
		if normVersion(s.version) == v {
			step, done = s, s.done
			break
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the images of %s to load into the kind nodes: %w", version, ctx.Err())
	}
	if step != nil {
		return step.err
	}
	// Every step has finished: the first failure, if any.
	for _, s := range l.steps {
		if s.err != nil {
			return fmt.Errorf("the images of %s may lack an earlier version's: %w", version, s.err)
		}
	}
	return nil
}

// Stop cancels the loader and waits until its goroutine returned (a load
// into the nodes already running finishes first: kind's import takes no
// context), or until ctx ends, which it reports. Waiters then get an error,
// not a hang. Stop may be called more than once.
func (l *imageLoader) Stop(ctx context.Context) error {
	l.cancel()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the background image loader did not stop: %w", ctx.Err())
	}
}

func normVersion(v string) string { return strings.TrimPrefix(strings.TrimSpace(v), "v") }

func refList(refs []string) string {
	if len(refs) == 0 {
		return "no local images"
	}
	return strings.Join(refs, ", ")
}
