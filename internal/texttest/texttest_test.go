package texttest

import "testing"

func TestDoubledWord(t *testing.T) {
	for msg, want := range map[string]string{
		"Error: run: failed: failed to load":        "failed failed",
		"error: error reading values.yaml":          "error error",
		"cni.version: 1.2 is not a version":         "",
		"waiting for x: 5s; still still advertised": "still still",
		"a a b":                              "", // too short to be a word
		"--faults faults: inject each fault": "", // a flag and its meaning
	} {
		if got := DoubledWord(msg); got != want {
			t.Errorf("DoubledWord(%q) = %q, want %q", msg, got, want)
		}
	}
}

func TestDoubledWordHTML(t *testing.T) {
	if w, _ := DoubledWordHTML(`<td>PASS 1, skipped</td><td>skipped</td>`); w != "" {
		t.Errorf("two cells counted as one text: %q", w)
	}
	if w, text := DoubledWordHTML(`<li>route &amp; route route gone</li>`); w != "route route" || text != "route & route route gone" {
		t.Errorf("got %q in %q", w, text)
	}
}
