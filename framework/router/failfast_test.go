package router

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waited is how long a failed check says it waited.
func waited(t *testing.T, err error) time.Duration {
	t.Helper()
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("want a CheckError, got %v", err)
	}
	return ce.Waited
}

// The checks that fail before their timeout only on a state no wait can
// mend, on a real router and speakers (loopback): a stranger's live session
// announcing a node's block fails exact-blocks at once, a stranger's prefix
// that overlaps no block still gets the whole wait; a node whose session is
// up all along while another advertised a service address fails
// advertised-by-only once the skew ran out, a node that advertises within
// the skew passes, and a node without a session gets the whole wait.
func TestChecksFailFastOnDefiniteState(t *testing.T) {
	ctx := context.Background()
	r, rc := startRouter(t, nil)
	n1 := Node{"node1", "127.0.0.11"}
	n2 := Node{"node2", "127.0.0.12"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	s1 := startSpeaker(t, rc, n1.Address, nil)
	s2 := startSpeaker(t, rc, n2.Address, nil)
	must(s1.Client().Advertise(ctx, "10.85.1.0/24", n1.Address))
	must(s2.Client().Advertise(ctx, "10.85.2.0/24", n2.Address))
	k := NewChecker(r.Client())
	k.Timeout = 20 * time.Second
	want := NodeBlocks{n1: {"10.85.1.0/24"}, n2: {"10.85.2.0/24"}}
	must(k.ExactBlocks(ctx, want, "10.85.0.0/16"))

	t.Run("stranger announces a node's block", func(t *testing.T) {
		stranger := "127.0.0.20"
		s3 := startSpeaker(t, rc, stranger, nil)
		must(s3.Client().Advertise(ctx, "10.85.50.0/24", stranger))
		must(k.PrefixLearned(ctx, Node{"stranger", stranger}, "10.85.50.0/24"))
		// A prefix of the pod CIDR no node owns: wrong, but not a hijack
		// of a node's block; the check waits its timeout.
		short := *k
		short.Timeout = 2 * time.Second
		err := short.ExactBlocks(ctx, want, "10.85.0.0/16")
		mustContain(t, err, "foreign peer 127.0.0.20 (not one of the nodes) announces 10.85.50.0/24")
		if w := waited(t, err); w < short.Timeout {
			t.Errorf("no hijack, failed after %s, want the whole timeout %s", w, short.Timeout)
		}
		must(s3.Client().Advertise(ctx, "10.85.1.0/25", stranger))
		must(k.PrefixLearned(ctx, Node{"stranger", stranger}, "10.85.1.0/25"))
		long := *k
		long.Timeout = time.Minute
		start := time.Now()
		err = long.ExactBlocks(ctx, want, "10.85.0.0/16")
		mustContain(t, err, "which overlaps node1's block 10.85.1.0/24")
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("a stranger's live route over node1's block failed after %s, want at once (timeout %s)", d, long.Timeout)
		}
		must(s3.Stop())
		must(k.PeerDown(ctx, Node{"stranger", stranger}))
		must(k.ExactBlocks(ctx, want, "10.85.0.0/16"))
	})

	t.Run("service advertised by one node, the other's session up", func(t *testing.T) {
		svc := "10.96.0.10/32"
		must(s1.Client().Advertise(ctx, svc, n1.Address))
		long := *k
		long.Timeout = time.Minute
		long.AdvertiseSkew = 2 * time.Second
		start := time.Now()
		err := long.AdvertisedByOnly(ctx, svc, []Node{n1, n2}, "")
		mustContain(t, err, "node node2 (127.0.0.12): not advertised (session established; node node1 (127.0.0.11) advertised it")
		if d := time.Since(start); d < long.AdvertiseSkew || d > 15*time.Second {
			t.Errorf("failed after %s, want after the skew %s and well before the timeout %s", d, long.AdvertiseSkew, long.Timeout)
		}
		// Within the skew the other node's advertisement is awaited.
		long.AdvertiseSkew = 30 * time.Second
		go func() {
			time.Sleep(2 * time.Second)
			_ = s2.Client().Advertise(ctx, svc, n2.Address)
		}()
		must(long.AdvertisedByOnly(ctx, svc, []Node{n1, n2}, ""))
	})

	t.Run("service advertised by one node, the other without a session", func(t *testing.T) {
		svc := "10.96.0.11/32"
		must(s1.Client().Advertise(ctx, svc, n1.Address))
		absent := Node{"node3", "127.0.0.13"}
		short := *k
		short.Timeout = 3 * time.Second
		short.AdvertiseSkew = 500 * time.Millisecond
		err := short.AdvertisedByOnly(ctx, svc, []Node{n1, absent}, "")
		mustContain(t, err, "node node3 (127.0.0.13): not advertised (no session from 127.0.0.13)")
		if w := waited(t, err); w < short.Timeout {
			t.Errorf("a node with no session failed after %s, want the whole timeout %s (it may still come)", w, short.Timeout)
		}
	})
}
