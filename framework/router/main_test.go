package router

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// childEnv makes the test binary run a router (or GoBGP speaker) from the
// JSON config in the variable instead of the tests: the lab starts it inside
// a network namespace, where a whole process (unlike goroutines) stays.
const childEnv = "HYBRIDCNI_ROUTER_TEST_CHILD"

func TestMain(m *testing.M) {
	if cfgJSON := os.Getenv(childEnv); cfgJSON != "" {
		os.Exit(runChild(cfgJSON))
	}
	os.Exit(m.Run())
}

func runChild(cfgJSON string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := log.New(os.Stderr, "", log.Lmicroseconds)
	if err := Run(ctx, cfg, WithLogf(logger.Printf)); err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}
