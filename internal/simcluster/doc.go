// Package simcluster runs a real Kubernetes control plane on loopback for
// tests, benchmarks and the demo: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, with kwok simulating the
// kubelets (node status, Lease heartbeats, pods going Running, kubelet
// resource metrics). The binaries are built from the Go module proxy by
// hack/build-simcluster.sh; nothing here is a fake.
//
// A node fails the way the story's nodes failed: FailNode takes it out of
// kwok's management, its Lease stops being renewed, and the real node
// lifecycle controller marks it Ready=Unknown after the grace period
// (20 s here, 50 s by default in real clusters).
//
// Every process runs in its own process group and is killed by Stop (and by
// the kernel, through Pdeathsig, should the test process die first).
package simcluster
