package main

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
)

// The chains start first, the longest first; the rest keep the file's order.
func TestMatrixStartsTheLongestEntriesFirst(t *testing.T) {
	runs := []config.Run{
		upgradeRun("fresh-1-16", "1.16.19", ""),
		upgradeRun("fresh-1-17", "1.17.0", ""),
		upgradeRun("patch-hop", "1.16.18", "1.16.19"),
		upgradeRun("chain", "1.16.19", "1.20.2"),
		upgradeRun("fresh-1-20", "1.20.2", ""),
		upgradeRun("chain-k133", "1.16.19", "1.20.2"),
		upgradeRun("calico-hop", "v3.29.6", "v3.30.7"),
	}
	var got []string
	for _, i := range startOrder(runs) {
		got = append(got, runs[i].Name)
	}
	want := []string{"chain", "chain-k133", "patch-hop", "calico-hop", "fresh-1-16", "fresh-1-17", "fresh-1-20"}
	if !slices.Equal(got, want) {
		t.Errorf("start order %v, want %v", got, want)
	}
	if n := versionsReached(runs[3]); n != 5 {
		t.Errorf("1.16.19 -> 1.20.2 reaches %d versions, want 5", n)
	}
}

// Without --upgrades-alone, one chain at a time: while one runs, the other
// workers take what is not a chain, and the second chain starts when the
// first ends.
func TestMatrixRunsOneChainAtATime(t *testing.T) {
	runs := []config.Run{
		upgradeRun("fresh-1-16", "1.16.19", ""),
		upgradeRun("chain", "1.16.19", "1.20.2"),
		upgradeRun("fresh-1-17", "1.17.0", ""),
		upgradeRun("chain-k133", "1.16.19", "1.20.2"),
	}
	q := newEntryQueue(runs, false)
	take := func() string {
		t.Helper()
		i, ok := q.next()
		if !ok {
			t.Fatal("queue empty too early")
		}
		return runs[i].Name
	}
	if a, b := take(), take(); a != "chain" || b != "fresh-1-16" {
		t.Fatalf("two workers took %s and %s, want chain and fresh-1-16 (not both chains)", a, b)
	}
	if c := take(); c != "fresh-1-17" {
		t.Fatalf("third start %s, want fresh-1-17", c)
	}
	// Only the second chain is left: a worker waits until the first ends.
	got := make(chan string)
	go func() { i, _ := q.next(); got <- runs[i].Name }()
	select {
	case n := <-got:
		t.Fatalf("%s started while the first chain ran", n)
	case <-time.After(50 * time.Millisecond):
	}
	q.done(1)
	if n := <-got; n != "chain-k133" {
		t.Fatalf("after the first chain, %s started, want chain-k133", n)
	}
	if _, ok := q.next(); ok {
		t.Fatal("queue should be empty")
	}
}

// upgradeRun is a run named name from version from, upgraded to to ("": none).
func upgradeRun(name, from, to string) config.Run {
	r := config.Default()
	r.Name, r.CNI.Version, r.CNI.UpgradeTo = name, from, to
	return r
}

// With --upgrades-alone (the default) an upgrade runs with nothing beside
// it: it waits for the running entries, nothing starts past it meanwhile,
// and the fresh installs then run side by side.
func TestMatrixRunsUpgradesAlone(t *testing.T) {
	runs := []config.Run{
		upgradeRun("fresh-1-16", "1.16.19", ""),
		upgradeRun("chain", "1.16.19", "1.20.2"),
		upgradeRun("fresh-1-17", "1.17.0", ""),
		upgradeRun("patch-hop", "1.16.18", "1.16.19"),
		upgradeRun("fresh-1-20", "1.20.2", ""),
	}
	q := newEntryQueue(runs, true)
	starts := make(chan int, len(runs))
	go func() {
		for {
			i, ok := q.next()
			if !ok {
				close(starts)
				return
			}
			starts <- i
		}
	}()
	// started waits for the next start; "" when none comes in wait.
	started := func(wait time.Duration) string {
		select {
		case i, ok := <-starts:
			if !ok {
				return "(end)"
			}
			return runs[i].Name
		case <-time.After(wait):
			return ""
		}
	}
	const soon, never = 10 * time.Second, 50 * time.Millisecond
	idx := func(name string) int {
		return slices.IndexFunc(runs, func(r config.Run) bool { return r.Name == name })
	}
	if n := started(soon); n != "chain" {
		t.Fatalf("first start %q, want chain", n)
	}
	if n := started(never); n != "" {
		t.Fatalf("%s started beside the chain", n)
	}
	q.done(idx("chain"))
	if n := started(soon); n != "patch-hop" {
		t.Fatalf("after the chain %q started, want patch-hop", n)
	}
	if n := started(never); n != "" {
		t.Fatalf("%s started beside patch-hop", n)
	}
	q.done(idx("patch-hop"))
	got := []string{started(soon), started(soon), started(soon)}
	if !slices.Equal(got, []string{"fresh-1-16", "fresh-1-17", "fresh-1-20"}) {
		t.Fatalf("fresh installs started %v, want all three at once in file order", got)
	}
	for _, n := range got {
		q.done(idx(n))
	}
	if n := started(soon); n != "(end)" {
		t.Fatalf("after the last entry: %q, want the end", n)
	}
}

// An upgrade that comes after running entries waits for them, and holds
// back what follows it.
func TestMatrixUpgradeWaitsForTheRunningEntries(t *testing.T) {
	runs := []config.Run{upgradeRun("fresh", "1.16.19", ""), upgradeRun("hop", "1.16.18", "1.16.19")}
	q := &entryQueue{runs: runs, pending: []int{0, 1}, upgradesAlone: true}
	q.cond = sync.NewCond(&q.mu)
	if i, _ := q.next(); i != 0 {
		t.Fatalf("first %s", runs[i].Name)
	}
	got := make(chan int)
	go func() { i, _ := q.next(); got <- i }()
	select {
	case i := <-got:
		t.Fatalf("%s started beside fresh", runs[i].Name)
	case <-time.After(50 * time.Millisecond):
	}
	q.done(0)
	if i := <-got; i != 1 {
		t.Fatalf("after fresh, %s started, want hop", runs[i].Name)
	}
}
