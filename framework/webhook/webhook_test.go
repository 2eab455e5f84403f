package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"
)

func review(t *testing.T, client *http.Client, url, name string) *admissionv1.AdmissionResponse {
	t.Helper()
	body, _ := json.Marshal(admissionv1.AdmissionReview{Request: &admissionv1.AdmissionRequest{UID: types.UID("u-" + name), Name: name}})
	resp, err := client.Post(url+"/validate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Response == nil || string(out.Response.UID) != "u-"+name {
		t.Fatalf("response %+v does not answer request u-%s", out.Response, name)
	}
	return out.Response
}

func TestServeOverTLSAllowsAllButTheRejectName(t *testing.T) {
	kp, err := SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(cert, kp.CertPEM, 0o600)
	os.WriteFile(key, kp.KeyPEM, 0o600)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, cert, key) }()
	t.Cleanup(func() { cancel(); <-done })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(kp.CertPEM)
	_, port, _ := net.SplitHostPort(addr)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	url := "https://localhost:" + port
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := client.Get(url + "/healthz"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("webhook never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := review(t, client, url, "ordinary"); !r.Allowed {
		t.Errorf("ordinary object refused: %+v", r)
	}
	if r := review(t, client, url, RejectName); r.Allowed || r.Result == nil || r.Result.Message != RejectMessage {
		t.Errorf("marker object not refused: %+v", r)
	}
	resp, err := client.Post(url+"/validate", "application/json", bytes.NewReader([]byte("{}")))
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an empty review: %v %v, want 400", resp, err)
	}
}

func TestServeRefusesMissingKeys(t *testing.T) {
	if err := Serve(context.Background(), "127.0.0.1:0", "/nonexistent.crt", "/nonexistent.key"); err == nil {
		t.Fatal("served without a key pair")
	}
}
