package router

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// cutRouter answers its first read, then fails every read as gRPC does when
// a call's deadline passes.
type cutRouter struct {
	*scriptedRouter
	mu    sync.Mutex
	reads int
}

func (r *cutRouter) listPeers(ctx context.Context, fn func(*api.Peer)) error {
	r.mu.Lock()
	r.reads++
	n := r.reads
	r.mu.Unlock()
	if n > snapshotReads+1 {
		return status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	}
	return r.scriptedRouter.listPeers(ctx, fn)
}

// A read cut short by the wait's deadline is not why a check failed: the
// guide's Cilium objects were reported as "router: list peers: ... deadline
// exceeded" where the router had answered, each time, that no peer sent
// the service's route.
func TestCheckFailureKeepsTheLastVerdictWhenReadsAreCutShort(t *testing.T) {
	n := Node{"node1", "10.80.0.11"}
	r := &cutRouter{scriptedRouter: newScriptedRouter(t, n)}
	k := &Checker{Client: &Client{b: r}, Timeout: time.Second, Recheck: 100 * time.Millisecond}
	err := k.ServiceAdvertised(context.Background(), "10.96.0.10")
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("want a CheckError, got %v", err)
	}
	if r.reads <= snapshotReads+1 {
		t.Fatalf("the router was read %d times: no read was cut short", r.reads)
	}
	if strings.Contains(ce.Reason, "deadline") || !strings.Contains(ce.Reason, "no /32 route") || ce.Prefix != "10.96.0.10/32" {
		t.Fatalf("reason %q: want the last verdict (no /32 route) on 10.96.0.10/32, not the cut read (prefix %q)", ce.Reason, ce.Prefix)
	}
}
