// sigstore-verify decides, as skopeo and podman do, whether a registry image may be used
// under a containers-policy.json: containers/image's PolicyContext, with a registries.d
// directory (use-sigstore-attachments) and plain HTTP allowed for the loopback test
// registry. A manifest list is checked as `skopeo copy --all` checks it (its own
// signature) and as copying one platform does (each instance's). The tests need it because Debian's skopeo is built with sigstore verification
// disabled ("Debian-local change: sigstore disabled").
//
// Usage: sigstore-verify POLICY.json REGISTRIES.D HOST/REPO:TAG
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/image"
	"github.com/containers/image/v5/manifest"
	"github.com/containers/image/v5/signature"
	"github.com/containers/image/v5/types"
	"github.com/opencontainers/go-digest"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: sigstore-verify POLICY.json REGISTRIES.D HOST/REPO:TAG")
		os.Exit(2)
	}
	if err := verify(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("allowed")
}

func verify(policyPath, registriesD, ref string) error {
	ctx := context.Background()
	policy, err := signature.NewPolicyFromFile(policyPath)
	if err != nil {
		return err
	}
	policyContext, err := signature.NewPolicyContext(policy)
	if err != nil {
		return err
	}
	defer policyContext.Destroy()
	imageRef, err := docker.ParseReference("//" + ref)
	if err != nil {
		return err
	}
	sys := &types.SystemContext{RegistriesDirPath: registriesD, DockerInsecureSkipTLSVerify: types.OptionalBoolTrue}
	source, err := imageRef.NewImageSource(ctx, sys)
	if err != nil {
		return err
	}
	defer source.Close()
	instances := []*digest.Digest{nil}
	raw, mediaType, err := source.GetManifest(ctx, nil)
	if err != nil {
		return err
	}
	if manifest.MIMETypeIsMultiImage(mediaType) {
		list, err := manifest.ListFromBlob(raw, mediaType)
		if err != nil {
			return err
		}
		for _, d := range list.Instances() {
			instances = append(instances, &d)
		}
	}
	for _, instance := range instances {
		allowed, err := policyContext.IsRunningImageAllowed(ctx, image.UnparsedInstance(source, instance))
		if err != nil {
			return err
		}
		if !allowed {
			return fmt.Errorf("%s: not allowed by %s", ref, policyPath)
		}
	}
	return nil
}
