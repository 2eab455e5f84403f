package topologies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Kinds of objects a ledger records.
const (
	ObjNetwork   = "network"
	ObjContainer = "container"
	ObjCluster   = "kind-cluster"
)

// Entry is one object a run created (or was about to create: entries are
// written before the create call, so a crash mid-create leaves a record).
type Entry struct {
	Kind    string    `json:"kind"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

func (e Entry) String() string { return e.Kind + " " + e.Name }

// Ledger lists what one run created, in creation order, so teardown removes
// exactly that, in reverse. With a path it is saved after every change.
type Ledger struct {
	mu      sync.Mutex
	path    string
	Run     string  `json:"run"`
	Entries []Entry `json:"entries"`
	// Env is what `hybridcni up` printed, kept for `down` and the suites.
	Env *EnvInfo `json:"env,omitempty"`
}

// NewLedger starts an empty ledger for run name; with a path it is written
// to that file (a JSON document) after every change.
func NewLedger(name, path string) (*Ledger, error) {
	l := &Ledger{Run: name, path: path}
	return l, l.save()
}

// LoadLedger reads a ledger written by a previous run.
func LoadLedger(path string) (*Ledger, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	l := &Ledger{path: path}
	if err := json.Unmarshal(data, l); err != nil {
		return nil, fmt.Errorf("ledger %s is damaged (%v): remove what it named with `hybridcni gc --older-than 0s --run NAME`", path, err)
	}
	return l, nil
}

// Path is the ledger file, or "" for an in-memory ledger.
func (l *Ledger) Path() string { return l.path }

// Record notes an object about to be created.
func (l *Ledger) Record(kind, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Entries = append(l.Entries, Entry{Kind: kind, Name: name, Created: time.Now().UTC()})
	return l.saveLocked()
}

// SetEnv stores the environment summary.
func (l *Ledger) SetEnv(e *EnvInfo) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Env = e
	return l.saveLocked()
}

// Left returns the entries not torn down yet, newest first.
func (l *Ledger) Left() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Entry, 0, len(l.Entries))
	for i := len(l.Entries) - 1; i >= 0; i-- {
		out = append(out, l.Entries[i])
	}
	return out
}

func (l *Ledger) drop(e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.Entries) - 1; i >= 0; i-- {
		if l.Entries[i].Kind == e.Kind && l.Entries[i].Name == e.Name {
			l.Entries = append(l.Entries[:i], l.Entries[i+1:]...)
			break
		}
	}
	return l.saveLocked()
}

func (l *Ledger) save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.saveLocked()
}

func (l *Ledger) saveLocked() error {
	if l.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return os.Rename(tmp, l.path)
}

// Remover deletes one recorded object; a missing object is not an error.
type Remover func(ctx context.Context, e Entry) error

// Teardown removes every entry, newest first, with remove. It goes on past
// failures and returns them joined; what could not be removed stays in the
// ledger (see Left). When the ledger is empty its file is deleted.
func (l *Ledger) Teardown(ctx context.Context, remove Remover) error {
	var errs []error
	for _, e := range l.Left() {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("teardown stopped before %s: %w", e, err))
			break
		}
		// A removal that ignores ctx (kind shells out) must not hold up
		// an abort: stop waiting for it when ctx ends.
		done := make(chan error, 1)
		go func() { done <- remove(ctx, e) }()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("teardown stopped during %s: %w", e, ctx.Err()))
			return errors.Join(errs...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", e, err))
			continue
		}
		if err := l.drop(e); err != nil {
			errs = append(errs, err)
		}
	}
	if len(l.Left()) == 0 && l.path != "" {
		if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LeftBehindError reports objects a teardown did not remove and how to remove them.
type LeftBehindError struct {
	Run   string
	Left  []Entry
	Cause error
}

func (e *LeftBehindError) Error() string {
	names := make([]string, len(e.Left))
	for i, x := range e.Left {
		names[i] = x.String()
	}
	return fmt.Sprintf("%v; left behind: %s; remove them with `%s`", e.Cause, strings.Join(names, ", "), GCCommand(e.Run))
}

func (e *LeftBehindError) Unwrap() error { return e.Cause }

// GCCommand is the command that removes what a run left behind.
func GCCommand(run string) string {
	return "hybridcni gc --older-than 0s --run " + run
}
