package probe

// Masquerade is the masquerade check for one pod talking to an echo server
// outside the cluster (echo must be http .../clientip or udp): with
// masquerading on the echo must see the node's IP, with it off the pod's own
// IP. Anything else fails with both addresses in the message.
func Masquerade(pod Source, nodeIP string, echo Target, masquerading bool) Expectation {
	if masquerading {
		return ExpectSuccess("pod-to-external/masquerade-on", pod, echo,
			WithSource(nodeIP, "the node IP: masquerading is on"))
	}
	return ExpectSuccess("pod-to-external/masquerade-off", pod, echo,
		WithSource(pod.IP, "the pod IP: masquerading is off"))
}
