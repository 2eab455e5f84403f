package router

import (
	"context"
	"fmt"
)

// Run starts a router and keeps it until ctx ends (SIGTERM in the CLI);
// then it closes the sessions and withdraws the routes it installed.
func Run(ctx context.Context, cfg Config, opts ...Option) error {
	r, err := New(cfg, opts...)
	if err != nil {
		return err
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	if err := r.Stop(); err != nil {
		return fmt.Errorf("router: stop: %w", err)
	}
	return nil
}
