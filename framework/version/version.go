// Package version is the harness's own version, set at link time.
package version

// Version is set with -ldflags "-X github.com/hybridcni/hybridcni/framework/version.Version=...".
var Version = "dev"
