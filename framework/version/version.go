// Package version is kept only for importers not yet moved to
// framework/buildinfo, the harness's build information.
//
// Deprecated: use github.com/hybridcni/hybridcni/framework/buildinfo.
package version

import "github.com/hybridcni/hybridcni/framework/buildinfo"

// Version is buildinfo.Version (set at link time there).
//
// Deprecated: use buildinfo.Version.
var Version = buildinfo.Version
