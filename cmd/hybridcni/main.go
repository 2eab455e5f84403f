// Command hybridcni qualifies CNIs (Cilium, Calico) on EKS hybrid nodes.
package main

import "os"

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
