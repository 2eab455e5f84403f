package versions

import (
	"slices"
	"testing"
)

var calico = []string{"v3.30.7", "v3.29.6", "v3.29.7", "not-a-version"}

func TestFindIgnoresTheVPrefix(t *testing.T) {
	for _, want := range []string{"3.29.7", "v3.29.7"} {
		got, ok := Find(calico, want)
		if !ok || got != "v3.29.7" {
			t.Errorf("Find(%q) = %q, %v; want v3.29.7 as the source spells it", want, got, ok)
		}
	}
	if got, ok := Find([]string{"1.16.19"}, "v1.16.19"); !ok || got != "1.16.19" {
		t.Errorf("Find(v1.16.19) = %q, %v", got, ok)
	}
	if got, ok := Find(calico, "3.29.8"); ok {
		t.Errorf("Find(3.29.8) found %q in %v", got, calico)
	}
}

func TestSortedSkipsGarbageAndOrders(t *testing.T) {
	got := Sorted(calico)
	want := []string{"v3.29.6", "v3.29.7", "v3.30.7"}
	if !slices.Equal(got, want) {
		t.Errorf("Sorted = %v, want %v", got, want)
	}
}

func TestNearestPrefersTheSameMinor(t *testing.T) {
	list := []string{"1.15.9", "1.16.17", "1.16.18", "1.16.19", "1.17.0", "1.17.18", "1.18.1"}
	cases := []struct {
		want string
		n    int
		out  []string
	}{
		{"1.16.20", 3, []string{"1.16.17", "1.16.18", "1.16.19"}},
		{"1.17.5", 3, []string{"1.16.19", "1.17.0", "1.17.18"}},
		{"1.14.0", 2, []string{"1.15.9", "1.16.17"}},
		{"1.99.0", 2, []string{"1.17.18", "1.18.1"}},
		{"garbage", 2, []string{"1.17.18", "1.18.1"}},
	}
	for _, c := range cases {
		if got := Nearest(list, c.want, c.n); !slices.Equal(got, c.out) {
			t.Errorf("Nearest(%s, %d) = %v, want %v", c.want, c.n, got, c.out)
		}
	}
	if got := Nearest(nil, "1.0.0", 3); got != nil {
		t.Errorf("Nearest on an empty list = %v", got)
	}
}

func TestNewestPatchSkipsPrereleases(t *testing.T) {
	list := []string{"1.17.0", "1.17.18", "1.17.19-rc.1", "1.18.0"}
	if got, ok := NewestPatch(list, 1, 17); !ok || got != "1.17.18" {
		t.Errorf("NewestPatch(1.17) = %q, %v", got, ok)
	}
	if _, ok := NewestPatch(list, 1, 19); ok {
		t.Error("NewestPatch(1.19) found a version that is not there")
	}
}
