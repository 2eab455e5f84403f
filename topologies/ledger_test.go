package topologies

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLedgerTearsDownInReverseAndForgetsWhatIsGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "ledger.json")
	l, err := NewLedger("hcni-x", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Entry{{Kind: ObjNetwork, Name: "net"}, {Kind: ObjContainer, Name: "router"}, {Kind: ObjCluster, Name: "cluster"}, {Kind: ObjContainer, Name: "host"}} {
		if err := l.Record(e.Kind, e.Name); err != nil {
			t.Fatal(err)
		}
	}
	// Another process reads the same ledger.
	again, err := LoadLedger(path)
	if err != nil || len(again.Entries) != 4 || again.Run != "hcni-x" {
		t.Fatalf("reloaded ledger = %+v, %v", again, err)
	}

	// The cluster cannot be removed: the others still go, it stays listed.
	var order []string
	failing := func(_ context.Context, e Entry) error {
		order = append(order, e.Name)
		if e.Kind == ObjCluster {
			return errors.New("kind says no")
		}
		return nil
	}
	err = again.Teardown(context.Background(), failing)
	if err == nil || !strings.Contains(err.Error(), "remove kind-cluster cluster: kind says no") {
		t.Fatalf("teardown error %v should name the failed object", err)
	}
	if want := []string{"host", "cluster", "router", "net"}; !slices.Equal(order, want) {
		t.Fatalf("removal order %v, want newest first %v", order, want)
	}
	if left := again.Left(); len(left) != 1 || left[0].Name != "cluster" {
		t.Fatalf("left = %v, want only the cluster", left)
	}
	if reread, _ := LoadLedger(path); len(reread.Entries) != 1 {
		t.Fatalf("ledger file not updated: %+v", reread.Entries)
	}
	// Second try succeeds: the file goes away.
	if err := again.Teardown(context.Background(), func(context.Context, Entry) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty ledger file still there: %v", err)
	}
}

func TestLedgerTeardownStopsOnAbortAndSaysWhatIsLeft(t *testing.T) {
	l, _ := NewLedger("hcni-y", "")
	l.Record(ObjNetwork, "net")
	l.Record(ObjContainer, "stuck")
	ctx, cancel := context.WithCancel(context.Background())
	block := make(chan struct{})
	defer close(block)
	start := time.Now()
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	err := l.Teardown(ctx, func(context.Context, Entry) error { <-block; return nil })
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("aborted teardown: %v after %s", err, time.Since(start))
	}
	lb := &LeftBehindError{Run: l.Run, Left: l.Left(), Cause: err}
	msg := lb.Error()
	for _, want := range []string{"container stuck", "network net", "hybridcni gc --older-than 0s --run hcni-y"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
}

func TestLoadLedgerNamesTheDamage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ledger.json")
	os.WriteFile(p, []byte("{not json"), 0o644)
	if _, err := LoadLedger(p); err == nil || !strings.Contains(err.Error(), "hybridcni gc") {
		t.Fatalf("damaged ledger: %v", err)
	}
}

func TestWorkerIndexOrdersCloudBeforeHybrid(t *testing.T) {
	for node, want := range map[string]int{"hcni-a-worker": 1, "hcni-a-worker2": 2, "hcni-a-worker12": 12} {
		if got := workerIndex("hcni-a", node); got != want {
			t.Errorf("%s: %d, want %d", node, got, want)
		}
	}
}
