package docker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// slowEngine is a Docker API that holds each create until released, then
// completes it (as a real engine does with a request already accepted), and
// records removals and whether a create's request was abandoned.
type slowEngine struct {
	arrived, release chan struct{}
	mu               sync.Mutex
	removed          []string
	abandoned        bool
}

func (e *slowEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path[strings.Index(r.URL.Path[1:], "/")+1:] // drop /v1.xx
	switch {
	case r.Method == http.MethodGet && path == "/networks":
		w.Write([]byte("[]"))
	case r.Method == http.MethodPost && (path == "/containers/create" || path == "/networks/create"):
		e.arrived <- struct{}{}
		<-e.release
		e.mu.Lock()
		e.abandoned = e.abandoned || r.Context().Err() != nil
		e.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"Id":"made-by-create"}`))
	case r.Method == http.MethodDelete:
		e.mu.Lock()
		e.removed = append(e.removed, path)
		e.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "unexpected "+r.Method+" "+path, http.StatusNotImplemented)
	}
}

// An interrupt during a create must not abandon the request (the engine
// would finish it with no one to record it); the create completes, and what
// it made is removed.
func TestInterruptedCreateRemovesWhatItMade(t *testing.T) {
	cases := []struct {
		name   string
		create func(ctx context.Context, c *Client) error
		remove string
	}{
		{"container", func(ctx context.Context, c *Client) error {
			_, err := c.RunContainer(ctx, Container{Name: "hcni-router", Image: "hybridcni/router:test"})
			return err
		}, "/containers/made-by-create"},
		{"network", func(ctx context.Context, c *Client) error {
			_, err := c.CreateNetwork(ctx, Network{Name: "hcni-net", Subnet: netip.MustParsePrefix("10.211.78.0/24")})
			return err
		}, "/networks/made-by-create"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &slowEngine{arrived: make(chan struct{}), release: make(chan struct{})}
			srv := httptest.NewServer(e)
			defer srv.Close()
			api, err := client.NewClientWithOpts(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithVersion("1.41"))
			if err != nil {
				t.Fatal(err)
			}
			defer api.Close()
			c := &Client{api: api}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tc.create(ctx, c) }()
			select {
			case <-e.arrived:
			case err := <-done:
				t.Fatalf("create returned before reaching the engine: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("create never reached the engine")
			}
			cancel()
			close(e.release)
			var err2 error
			select {
			case err2 = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("create did not return after the engine answered")
			}
			if !errors.Is(err2, context.Canceled) {
				t.Errorf("error %v, want one wrapping context.Canceled", err2)
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.abandoned {
				t.Error("the create request was abandoned on interrupt")
			}
			if len(e.removed) != 1 || e.removed[0] != tc.remove {
				t.Errorf("removed %v, want [%s]", e.removed, tc.remove)
			}
		})
	}
}
