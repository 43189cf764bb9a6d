// Package chart holds the checks of charts/nodewatch that `make chart-test`
// runs: helm v4 (hack/build-helm.sh) lints the chart strictly and renders it
// with the default values and the value sets under charts/nodewatch/ci; the
// rendered objects are decoded strictly into their Kubernetes types, every
// pod is judged by Pod Security Admission's own "restricted" checks
// (k8s.io/pod-security-admission), and every flag the chart passes must be
// one `nodewatch run --help` lists. Without helm the tests skip, unless $CI
// or $NODEWATCH_REQUIRE_HELM is set (internal/testenv).
package chart
