package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	yamlv3 "gopkg.in/yaml.v3"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// decodeStrict decodes YAML into v the way Kubernetes does: field names are
// case-sensitive, unknown and duplicate fields are errors. A second YAML
// document, or a file of the other kind (a Matrix given where a Run is read,
// or the reverse), is refused with the command it belongs to; an unknown
// field is named with the nearest known one. Errors it builds are *Error.
func decodeStrict(data []byte, v any) error {
	want := kindFor(v)
	if root, second := documents(data); second > 0 {
		return &Error{Problems: []Problem{{Field: "(document)", Line: second,
			Message: "a second YAML document: a file holds one " + want + ", later documents would be ignored",
			Fix:     "remove the '---' and what follows, or put it in a file of its own"}}}
	} else if got, line := kindOf(root); got != "" && got != want && commandFor[got] != "" {
		return &Error{Problems: []Problem{{Field: "kind", Line: line,
			Message: fmt.Sprintf("is %s: this is a %s file, not a %s file", got, strings.ToLower(got), strings.ToLower(want)),
			Fix:     "pass it to " + commandFor[got]}}}
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		if m := unknownFieldRE.FindStringSubmatch(strict[0].Error()); m != nil {
			p := Problem{Field: m[1], Message: "unknown field"}
			if s := nearestField(reflect.TypeOf(v), m[1]); s != "" {
				p.Fix = "did you mean " + s + "?"
			} else {
				p.Fix = "remove it; the fields are those of fixtures/runs/*.yaml and the README's Configuration"
			}
			return &Error{Problems: []Problem{p}}
		}
	}
	return errors.Join(strict...)
}

// commandFor names the command each kind of file goes to.
var commandFor = map[string]string{
	"Run":    "'hybridcni run -f' (or plan, render, up, cni)",
	"Matrix": "'hybridcni matrix -f'",
}

func kindFor(v any) string {
	switch v.(type) {
	case *Matrix:
		return "Matrix"
	}
	return "Run"
}

// documents parses data with yaml.v3 and returns the first document's root
// node, and the line of a second document (0 when there is none).
func documents(data []byte) (*yamlv3.Node, int) {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var first yamlv3.Node
	if err := dec.Decode(&first); err != nil {
		return nil, 0
	}
	var second yamlv3.Node
	if err := dec.Decode(&second); err == nil {
		line := second.Line
		if len(second.Content) > 0 {
			line = second.Content[0].Line
		}
		if line == 0 {
			line = 1
		}
		return &first, line
	} else if !errors.Is(err, io.EOF) {
		return &first, 0
	}
	return &first, 0
}

// kindOf reads the top-level kind field of a document node, and its line.
func kindOf(doc *yamlv3.Node) (string, int) {
	if doc == nil || len(doc.Content) == 0 {
		return "", 0
	}
	m := doc.Content[0]
	if m.Kind != yamlv3.MappingNode {
		return "", 0
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "kind" {
			return m.Content[i+1].Value, m.Content[i].Line
		}
	}
	return "", 0
}

// fieldLines maps every field path of a YAML file ("network.podCIDR",
// "entries[1].cni.version") to the line of its key.
func fieldLines(data []byte) map[string]int {
	doc, _ := documents(data)
	out := map[string]int{}
	if doc == nil || len(doc.Content) == 0 {
		return out
	}
	var walk func(n *yamlv3.Node, path string)
	walk = func(n *yamlv3.Node, path string) {
		switch n.Kind {
		case yamlv3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				out[p] = n.Content[i].Line
				walk(n.Content[i+1], p)
			}
		case yamlv3.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				out[p] = c.Line
				walk(c, p)
			}
		}
	}
	walk(doc.Content[0], "")
	return out
}

// lineOf is the line of field in lines, or of its nearest parent present.
func lineOf(lines map[string]int, field string) int {
	for f := field; f != ""; {
		if l, ok := lines[f]; ok {
			return l
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}

// Locate names path in err's problems and the line of each field in it, so
// messages read "run.yaml:7: network.podCIDR: ...". Problems about flags or
// fields the file does not set keep no line. Other errors pass unchanged.
func Locate(err error, path string) error {
	var e *Error
	if path == "" || !errors.As(err, &e) {
		return err
	}
	e.File = path
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		return err
	}
	lines := fieldLines(data)
	for i, p := range e.Problems {
		if p.Line == 0 && !strings.Contains(p.Message, "(from --") {
			e.Problems[i].Line = lineOf(lines, p.Field)
		}
	}
	return err
}

// nearestField suggests the known field closest to an unknown one, as a
// full path ("cni.version" for "cni.verison"), or "" when none is close.
func nearestField(t reflect.Type, field string) string {
	parts := strings.Split(field, ".")
	for _, part := range parts[:len(parts)-1] {
		if i := strings.IndexByte(part, '['); i >= 0 {
			part = part[:i]
		}
		t = fieldType(t, part)
		if t == nil {
			return ""
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return ""
	}
	last := parts[len(parts)-1]
	best, bestD := "", len(last)/2+1
	if bestD > 3 {
		bestD = 3
	}
	for i := 0; i < t.NumField(); i++ {
		name := jsonName(t.Field(i))
		if name == "" {
			continue
		}
		d := distance(strings.ToLower(name), strings.ToLower(last))
		if d < bestD || (d <= bestD && strings.EqualFold(name, last)) {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return strings.Join(append(parts[:len(parts)-1:len(parts)-1], best), ".")
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	return t
}

func fieldType(t reflect.Type, name string) reflect.Type {
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		if jsonName(t.Field(i)) == name {
			return t.Field(i).Type
		}
	}
	return nil
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if tag == "-" || !f.IsExported() {
		return ""
	}
	if n, _, _ := strings.Cut(tag, ","); n != "" {
		return n
	}
	return f.Name
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
