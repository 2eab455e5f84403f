package config

import (
	"strings"
	"testing"
)

// cni.repeatHops and cni.repeatBudgetOn: defaults, and every bad value
// named with its field and a fix.
func TestRepeatHopsDefaultsAndValidation(t *testing.T) {
	r, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.CNI.RepeatHops != 0 || r.CNI.RepeatBudgetOn != "median" {
		t.Fatalf("defaults: repeatHops %d, repeatBudgetOn %q; want 0 and median", r.CNI.RepeatHops, r.CNI.RepeatBudgetOn)
	}
	ok, err := Parse([]byte("cni: {upgradeTo: 1.17.0, repeatHops: 5, repeatBudgetOn: worst}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("5 repeats on the worst hop: %v", err)
	}
	cases := []struct {
		name, yaml, field, says string
	}{
		{"negative", "cni: {upgradeTo: 1.17.0, repeatHops: -1}", "cni.repeatHops", "out of range"},
		{"too many", "cni: {upgradeTo: 1.17.0, repeatHops: 21}", "cni.repeatHops", "out of range"},
		{"no upgrade target", "cni: {repeatHops: 3}", "cni.repeatHops", "no upgrade target"},
		{"unknown figure", "cni: {upgradeTo: 1.17.0, repeatHops: 3, repeatBudgetOn: mean}", "cni.repeatBudgetOn", "not a figure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Parse([]byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = r.Validate()
			if err == nil {
				t.Fatalf("validated, want a problem with %s", c.field)
			}
			for _, p := range err.(*Error).Problems {
				if p.Field == c.field && strings.Contains(p.Message, c.says) && p.Fix != "" {
					return
				}
			}
			t.Fatalf("want %s %q with a fix, got %v", c.field, c.says, err)
		})
	}
}
