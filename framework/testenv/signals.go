package testenv

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// live holds every Env not yet stopped, so an interrupt can stop them.
var live struct {
	sync.Mutex
	envs      map[*Env]struct{}
	installed bool
}

func register(e *Env) {
	live.Lock()
	defer live.Unlock()
	if live.envs == nil {
		live.envs = map[*Env]struct{}{}
	}
	live.envs[e] = struct{}{}
	if !live.installed {
		live.installed = true
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go onSignal(ch)
	}
}

func unregister(e *Env) {
	live.Lock()
	defer live.Unlock()
	delete(live.envs, e)
}

// onSignal stops every running Env, then lets the signal do what it would
// have done without us (normally: end the process).
func onSignal(ch chan os.Signal) {
	sig := <-ch
	live.Lock()
	envs := make([]*Env, 0, len(live.envs))
	for e := range live.envs {
		envs = append(envs, e)
	}
	live.Unlock()
	if len(envs) > 0 {
		fmt.Fprintf(os.Stderr, "testenv: %v: stopping %d API tier environment(s)\n", sig, len(envs))
	}
	var wg sync.WaitGroup
	for _, e := range envs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = e.Stop() }()
	}
	wg.Wait()
	signal.Reset(sig)
	_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
}
