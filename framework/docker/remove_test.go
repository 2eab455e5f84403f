package docker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// fakeEngine answers container removal and inspection like an engine that
// another caller is already removing the container from: DELETE gets 409
// "already in progress" while the container is "removing", and inspect
// reports each status of states in turn, then 404.
type fakeEngine struct {
	mu      sync.Mutex
	states  []string // inspect answers in turn; after the last: gone
	deletes int
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	status := "gone"
	if len(f.states) > 0 {
		status = f.states[0]
	}
	switch {
	case r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/containers/"):
		f.deletes++
		switch status {
		case "gone":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"No such container: r"}`)
		case "removing":
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"message":"removal of container r is already in progress"}`)
		default: // our own removal succeeds
			f.states = nil
			w.WriteHeader(http.StatusNoContent)
		}
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/json"):
		if status == "gone" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"No such container: r"}`)
			return
		}
		f.states = f.states[1:]
		fmt.Fprintf(w, `{"Id":"r","Name":"/r","State":{"Status":%q}}`, status)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

func fakeClient(t *testing.T, f *fakeEngine) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	api, err := client.NewClientWithOpts(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithVersion("1.47"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	return &Client{api: api}
}

// A run interrupted twice exits while the engine still removes its router;
// gc then meets "removal already in progress" and must wait, not fail.
func TestRemoveContainerWaitsForARemovalInProgress(t *testing.T) {
	f := &fakeEngine{states: []string{"removing", "removing", "removing"}}
	c := fakeClient(t, f)
	if err := c.RemoveContainer(context.Background(), "r"); err != nil {
		t.Fatalf("a container another removal takes away: %v", err)
	}
	if f.deletes != 1 {
		t.Errorf("%d DELETEs; one, then waiting, was expected", f.deletes)
	}
}

// The other removal failed and left the container: remove it ourselves.
func TestRemoveContainerFinishesAnAbandonedRemoval(t *testing.T) {
	f := &fakeEngine{states: []string{"removing", "dead"}}
	c := fakeClient(t, f)
	if err := c.RemoveContainer(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	if f.deletes != 2 {
		t.Errorf("%d DELETEs; the second should remove what the first removal left", f.deletes)
	}
}

// A removal that never ends is reported, naming the container, not waited
// for without bound.
func TestRemoveContainerBoundsTheWait(t *testing.T) {
	states := make([]string, 1000)
	for i := range states {
		states[i] = "removing"
	}
	c := fakeClient(t, &fakeEngine{states: states})
	err := c.awaitRemoval(context.Background(), "r", 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "container r") || !strings.Contains(err.Error(), "still there after 300ms") {
		t.Fatalf("error %v should name the container and the bound", err)
	}
}
