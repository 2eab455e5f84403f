package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Problem is one invalid field: what is wrong and how to fix it.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
	// Line is the line of the field in Error.File (0: none, e.g. a flag's).
	Line int `json:"line,omitempty"`
}

func (p Problem) String() string {
	s := p.Field + ": " + p.Message
	if p.Fix != "" {
		s += " (fix: " + p.Fix + ")"
	}
	return s
}

// Error reports invalid input. Callers map it to exit code 2.
type Error struct {
	// File is the configuration file the problems come from, if any.
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	head := "invalid configuration"
	if e.File != "" {
		head += " in " + e.File
	}
	// where names the file and line of a problem: "run.yaml:7: ".
	where := func(p Problem) string {
		if e.File != "" && p.Line > 0 {
			return fmt.Sprintf("%s:%d: ", e.File, p.Line)
		}
		return ""
	}
	if len(e.Problems) == 1 {
		if w := where(e.Problems[0]); w != "" {
			return "invalid configuration: " + w + e.Problems[0].String()
		}
		return head + ": " + e.Problems[0].String()
	}
	lines := make([]string, 0, len(e.Problems)+1)
	lines = append(lines, fmt.Sprintf("%s: %d problems", head, len(e.Problems)))
	for _, p := range e.Problems {
		lines = append(lines, "  - "+where(p)+p.String())
	}
	return strings.Join(lines, "\n")
}

// Has reports whether a problem names field.
func (e *Error) Has(field string) bool {
	for _, p := range e.Problems {
		if p.Field == field {
			return true
		}
	}
	return false
}

// Invalid builds an Error with a single problem; other packages use it for
// input they check themselves (chart versions, node images).
func Invalid(field, message, fix string) *Error {
	return &Error{Problems: []Problem{{Field: field, Message: message, Fix: fix}}}
}

// Fields lists the fields named in err, or nil when err is not an *Error.
func Fields(err error) []string {
	var e *Error
	if !errors.As(err, &e) {
		return nil
	}
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.Field
	}
	return out
}

func withFile(err error, path string) error { return Locate(err, path) }

var (
	unknownFieldRE = regexp.MustCompile(`unknown field "([^"]+)"`)
	typeFieldRE    = regexp.MustCompile(`into Go struct field \w+\.([\w.]+) of type (\S+)`)
)

// yamlProblem turns a decoding error into a problem naming the field.
func yamlProblem(err error) Problem {
	var built *Error
	if errors.As(err, &built) && len(built.Problems) == 1 {
		return built.Problems[0]
	}
	msg := err.Error()
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return Problem{Field: m[1], Message: "unknown field",
			Fix: "remove it or check its spelling against `hybridcni plan --help` and the README"}
	}
	if m := typeFieldRE.FindStringSubmatch(msg); m != nil {
		return Problem{Field: lowerFirstEach(m[1]), Message: "has the wrong type, want " + m[2],
			Fix: "write a value of type " + m[2]}
	}
	return Problem{Field: "(document)", Message: "is not valid YAML: " + msg,
		Fix: "check indentation and quoting"}
}

func lowerFirstEach(path string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToLower(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, ".")
}
