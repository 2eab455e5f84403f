package main

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestRouterCommandRefusesBadInput(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := strconv.Itoa(free.Addr().(*net.TCPAddr).Port)
	free.Close()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"router", "--router-id", "10.0.0.1"}, "asn=0"},
		{[]string{"router", "--asn", "64512", "--router-id", "r1"}, "router-id=r1"},
		{[]string{"router", "--asn", "64512", "--router-id", "10.0.0.1", "--neighbor-prefix", "10.80.0.0"}, "neighbor-prefix=10.80.0.0"},
		{[]string{"router", "--asn", "64512", "--router-id", "10.0.0.1", "--listen-address", "not-an-ip"}, "listen-address=not-an-ip"},
		{[]string{"router", "--asn", "64512", "--router-id", "10.0.0.1", "--hold-time", "9s", "--keepalive", "10s"}, "keepalive=10s"},
		{[]string{"router", "--asn", "64512", "--router-id", "10.0.0.1", "--listen-address", "127.0.0.1",
			"--listen-port", freePort, "--api-address", taken.String()}, "api-address=" + taken.String() + ": the port is taken"},
		{[]string{"router", "--asn", "64512", "--router-id", "10.0.0.1", "--listen-address", "127.0.0.1",
			"--listen-port", strconv.Itoa(taken.Port), "--api-address", ""}, "listen-port=" + taken.String() + ": the port is taken"},
		{[]string{"router", "--asn", "x"}, `--asn "x"`},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		code := execute(tc.args, &out, &errOut)
		if code != exitInvalid || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args[1:], code, errOut.String(), exitInvalid, tc.want)
		}
	}
}
