package testenv

import (
	"context"
	"fmt"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
)

type ctxKey struct{}

// Setup is an e2e-framework env.Func that starts an Env, points the
// environment's config at it (kubeconfig and client) and stores it in the
// context (see FromContext). Pair it with Finish:
//
//	testEnv.Setup(testenv.Setup(testenv.WithHybridNodes(3))).Finish(testenv.Finish())
//
// When the binaries are absent its error wraps ErrBinariesMissing; a
// TestMain can call FindBinaries first to skip the suite instead.
func Setup(opts ...Option) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		e, err := Start(ctx, opts...)
		if err != nil {
			_ = e.Stop()
			return ctx, err
		}
		cfg.WithKubeconfigFile(e.Kubeconfig()).WithClient(e.Client())
		return context.WithValue(ctx, ctxKey{}, e), nil
	}
}

// Finish is an env.Func that stops the Env that Setup started.
func Finish() env.Func {
	return func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		e, ok := FromContext(ctx)
		if !ok {
			return ctx, fmt.Errorf("testenv: Finish: no Env in the context (was testenv.Setup run?)")
		}
		return ctx, e.Stop()
	}
}

// FromContext returns the Env that Setup stored in ctx.
func FromContext(ctx context.Context) (*Env, bool) {
	e, ok := ctx.Value(ctxKey{}).(*Env)
	return e, ok && e != nil
}
