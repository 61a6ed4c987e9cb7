// Command referrers-registry serves an in-memory OCI registry with the OCI 1.1 referrers API
// (go-containerregistry's pkg/registry, referrers turned on), for the tests of push's SBOM on
// a registry that has that API. It prints the address it listens on, then serves until its
// standard input closes: the test holds that pipe, so the registry ends with the test however
// the test ends.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	address := flag.String("address", "127.0.0.1:0", "where to listen (loopback; port 0 picks one)")
	flag.Parse()
	listener, err := net.Listen("tcp", *address)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Println(listener.Addr().String())
	log.Fatal(http.Serve(listener, registry.New(registry.WithReferrersSupport(true))))
}
