// goclient - a static Go HTTPS client (CGO_ENABLED=0: crypto/tls, no libssl, no preload) for
// the egress-plane tests. It POSTs a body to a URL through http.DefaultTransport, which
// honours HTTPS_PROXY and SSL_CERT_FILE, and prints the reply's status line and body.
//
//	goclient URL BODY [Header: value]...
//
// stderr gets "pid: N" (the process the event must name) and "status: N".
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: goclient URL BODY [Header: value]...")
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "pid: %d\n", os.Getpid())
	req, err := http.NewRequest("POST", os.Args[1], strings.NewReader(os.Args[2]))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range os.Args[3:] {
		if k, v, ok := strings.Cut(h, ":"); ok {
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Fprintf(os.Stderr, "status: %d\n", resp.StatusCode)
	os.Stdout.Write(body)
	if err != nil {
		os.Exit(1)
	}
}
