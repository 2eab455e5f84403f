package router

import (
	"fmt"
	"sort"
	"strings"

	"github.com/osrg/gobgp/v3/pkg/log"
)

// gobgpLogger passes GoBGP's warnings and errors to logf; its info/debug
// chatter is dropped (the router logs its own peer and route lines).
type gobgpLogger struct {
	logf  func(string, ...any)
	level log.LogLevel
}

func newLogger(logf func(string, ...any)) log.Logger {
	return &gobgpLogger{logf: logf, level: log.WarnLevel}
}

func (l *gobgpLogger) out(level log.LogLevel, tag, msg string, f log.Fields) {
	if level > l.level {
		return
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, f[k])
	}
	l.logf("gobgp %s: %s%s", tag, msg, b.String())
}

func (l *gobgpLogger) Panic(msg string, f log.Fields) {
	l.out(log.PanicLevel, "panic", msg, f)
	panic(msg)
}

// Fatal is logged, not fatal: the router reports errors to its caller.
func (l *gobgpLogger) Fatal(msg string, f log.Fields) { l.out(log.FatalLevel, "fatal", msg, f) }
func (l *gobgpLogger) Error(msg string, f log.Fields) { l.out(log.ErrorLevel, "error", msg, f) }
func (l *gobgpLogger) Warn(msg string, f log.Fields)  { l.out(log.WarnLevel, "warning", msg, f) }
func (l *gobgpLogger) Info(msg string, f log.Fields)  { l.out(log.InfoLevel, "info", msg, f) }
func (l *gobgpLogger) Debug(msg string, f log.Fields) { l.out(log.DebugLevel, "debug", msg, f) }
func (l *gobgpLogger) SetLevel(level log.LogLevel)    { l.level = level }
func (l *gobgpLogger) GetLevel() log.LogLevel         { return l.level }
