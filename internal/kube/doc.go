// Package kube talks to the API server with client-go: kubectl-style access
// (kubeconfig, context, in-cluster), paged listing into a cluster.Snapshot
// for one-shot checks, and the daemon's shared informers, whose transform
// (Slim) keeps only the fields nodewatch reads. It is apart from package
// cluster so that code that only decodes objects (the dump reader, fuzzed)
// does not link client-go.
package kube
