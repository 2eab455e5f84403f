package main

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hybridcni/hybridcni/framework/config"
)

// startOrder is the order the entries start in: the longest first (an
// upgrade chain runs its checks once per version it reaches), file order
// among equals. With --parallel N the last entry to finish is then a short
// one, not a chain started when everything else was done.
func startOrder(runs []config.Run) []int {
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return versionsReached(runs[order[a]]) > versionsReached(runs[order[b]])
	})
	return order
}

// versionsReached estimates how many versions an entry qualifies: one for a
// fresh install, one more per minor its upgrade crosses (at least one),
// which is what its wall time and its nodes' images grow with.
func versionsReached(r config.Run) int {
	if r.CNI.UpgradeTo == "" {
		return 1
	}
	from, okf := minorNumber(r.CNI.Version)
	to, okt := minorNumber(r.CNI.UpgradeTo)
	if !okf || !okt || to <= from {
		return 2
	}
	return 1 + to - from
}

// isChain is an entry whose nodes hold the images of three or more
// versions: the chain 1.16.19 -> 1.20.2 took 18 GB of disk on two workers
// (each node keeps an image's archive layers and its unpacked files), so
// two chains at once fill a disk that holds either.
func isChain(r config.Run) bool { return versionsReached(r) >= 3 }

// entryQueue hands out entries in startOrder. With upgradesAlone an entry
// that upgrades runs with no other entry beside it: its disruption meter
// measures the CNI, not another cluster on the same CPU (on 2 cores a
// chain's hops lost up to 2 % alone, and up to 20 % in gaps of 8.5 s beside
// a fresh install). Otherwise chains run one at a time: a worker that would
// start a second chain takes the next entry that is not one.
type entryQueue struct {
	mu            sync.Mutex
	cond          *sync.Cond
	runs          []config.Run
	pending       []int
	upgradesAlone bool
	running       int
	alone         bool // the running entry runs alone
	chain         bool // a chain is running
}

func newEntryQueue(runs []config.Run, upgradesAlone bool) *entryQueue {
	q := &entryQueue{runs: runs, pending: startOrder(runs), upgradesAlone: upgradesAlone}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *entryQueue) runsAlone(r config.Run) bool { return q.upgradesAlone && r.CNI.UpgradeTo != "" }

// next is the next entry to start, waiting until one may; false when none
// is left. An entry that runs alone waits for the running ones to end, and
// nothing after it starts meanwhile, so it is not passed over for ever.
func (q *entryQueue) next() (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if len(q.pending) == 0 {
			return 0, false
		}
		if k, ok := q.startable(); ok {
			i := q.pending[k]
			q.pending = slices.Delete(q.pending, k, k+1)
			q.running++
			q.alone = q.runsAlone(q.runs[i])
			q.chain = q.chain || isChain(q.runs[i])
			return i, true
		}
		q.cond.Wait()
	}
}

// startable is the place in pending of the first entry that may start now.
func (q *entryQueue) startable() (int, bool) {
	if q.alone {
		return 0, false
	}
	for k, i := range q.pending {
		r := q.runs[i]
		if q.runsAlone(r) {
			return k, q.running == 0
		}
		if isChain(r) && q.chain {
			continue
		}
		return k, true
	}
	return 0, false
}

// done marks entry i finished.
func (q *entryQueue) done(i int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running--
	if q.runsAlone(q.runs[i]) {
		q.alone = false
	}
	if isChain(q.runs[i]) {
		q.chain = false
	}
	q.cond.Broadcast()
}

// minorNumber is the minor of a version such as 1.17.0 or v3.29.6.
func minorNumber(v string) (int, bool) {
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".")
	if len(parts) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(parts[1])
	return n, err == nil
}
