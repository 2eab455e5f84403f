package cnitest

import (
	"context"
	"testing"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/standin"
)

// Finalizers the real tigera-operator sets.
const (
	InstallationFinalizer = standin.InstallationFinalizer
	CNIProtector          = standin.CNIProtector
)

// FakeTigeraOperator is the tigera-operator stand-in.
type FakeTigeraOperator = standin.TigeraOperator

// FakeOption configures the stand-in operator.
type FakeOption = standin.TigeraOption

// WithoutFinalizers leaves the operator's finalizers off, as when the real
// operator completes its teardown before it is removed.
func WithoutFinalizers() FakeOption { return standin.WithoutFinalizers() }

// StartFakeTigeraOperator runs the stand-in, with component broken (see
// SetBroken; "" for none), until the test ends.
func StartFakeTigeraOperator(t testing.TB, c *cni.Cluster, broken string, opts ...FakeOption) *FakeTigeraOperator {
	t.Helper()
	f, err := standin.StartTigeraOperator(context.Background(), c, append(opts, standin.WithBroken(broken))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// SetTigeraStatus sets a condition on a tigerastatus (to fake a degraded operator).
func SetTigeraStatus(ctx context.Context, c *cni.Cluster, name, condType, status, msg string) error {
	return standin.SetTigeraStatus(ctx, c, name, condType, status, msg)
}
