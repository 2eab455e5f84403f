package topologies

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/progress"
	"github.com/hybridcni/hybridcni/framework/router"
)

// The router's start is a long wait like any other: while its API port is
// closed, and until BGP runs behind it, a line every interval names the
// router, its API address, how long of the bound has passed and what is
// still awaited. A router that dies stops the wait with its output.
func TestRouterWaitReportsProgress(t *testing.T) {
	old := progress.DefaultInterval
	progress.DefaultInterval = 100 * time.Millisecond
	defer func() { progress.DefaultInterval = old }()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := l.Addr().String()
	bgp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bgpPort := int32(bgp.Addr().(*net.TCPAddr).Port)
	l.Close() // nothing listens until the router starts
	bgp.Close()

	var mu sync.Mutex
	var lines []string
	logf := func(format string, args ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	started := make(chan struct{})
	var startErr atomic.Value
	go func() {
		time.Sleep(700 * time.Millisecond)
		r, err := router.New(router.Config{ASN: 64512, RouterID: "127.0.0.1", ListenAddresses: []string{"127.0.0.1"},
			ListenPort: bgpPort, NeighborPrefixes: []string{"127.0.0.0/26"}, NeighborASN: 65001, APIAddress: api,
			HoldTime: 9 * time.Second, Keepalive: 3 * time.Second, ConnectRetry: time.Second, RestartTime: 120 * time.Second})
		if err == nil {
			err = r.Start(context.Background())
			t.Cleanup(func() { r.Stop() })
		}
		if err != nil {
			startErr.Store(err.Error())
		}
		close(started)
	}()
	// The router "container" is alive until its start fails.
	alive := func(context.Context) (bool, string) {
		if e, _ := startErr.Load().(string); e != "" {
			return false, e
		}
		return true, ""
	}
	if err := waitRouter(context.Background(), "hcni-test-router", api, logf, alive); err != nil {
		t.Fatalf("wait: %v", err)
	}
	<-started
	mu.Lock()
	got := append([]string(nil), lines...)
	mu.Unlock()
	if len(got) < 3 {
		t.Fatalf("%d progress line(s) over a 700ms wait at one per 100ms:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, want := range []string{"waiting for router hcni-test-router to start (BGP API " + api + ")", "of " + routerStartLimit.String(), "still the API port to listen"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("first line lacks %q: %s", want, got[0])
		}
	}

	// A router that is gone: the error carries its output, and the
	// progress lines stop with the wait.
	lines = nil
	dead := func(context.Context) (bool, string) { return false, "router: bind: address already in use" }
	err = waitRouter(context.Background(), "hcni-dead-router", "127.0.0.1:1", logf, dead)
	if err == nil || !strings.Contains(err.Error(), "does not listen") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("a dead router: %v", err)
	}
}
