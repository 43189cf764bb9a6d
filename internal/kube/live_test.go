package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nodewatch/nodewatch/internal/cluster"
)

// The simulated cluster's e2e tests read these objects from a real API
// server; this covers what it cannot easily stage: being denied one kind.
func TestListPolicies(t *testing.T) {
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "mem", Namespace: "batch"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}}}},
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "batch"}},
	}
	deny := func(resource string, err error) func(*fake.Clientset) {
		return func(c *fake.Clientset) {
			c.PrependReactor("list", resource, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
		}
	}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "resourcequotas"}, "", errors.New("RBAC"))
	cases := []struct {
		name      string
		namespace string
		setup     func(*fake.Clientset)
		want      cluster.Kinds
		counts    [3]int // namespaces, limit ranges, quotas
		err       string
	}{
		{"all read", "", nil, cluster.Kinds{Namespaces: true, LimitRanges: true, ResourceQuotas: true}, [3]int{1, 1, 1}, ""},
		{"one namespace", "batch", nil, cluster.Kinds{Namespaces: true, LimitRanges: true, ResourceQuotas: true}, [3]int{1, 1, 1}, ""},
		{"quotas forbidden", "", deny("resourcequotas", forbidden), cluster.Kinds{Namespaces: true, LimitRanges: true}, [3]int{1, 1, 0}, ""},
		{"namespaces forbidden", "", deny("namespaces", forbidden), cluster.Kinds{LimitRanges: true, ResourceQuotas: true}, [3]int{0, 1, 1}, ""},
		{"server error", "", deny("limitranges", apierrors.NewInternalError(errors.New("etcd down"))), cluster.Kinds{}, [3]int{}, "listing limitranges"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientset(objs...)
			if tc.setup != nil {
				tc.setup(c)
			}
			s := cluster.NewSnapshot()
			err := ListPolicies(context.Background(), c, tc.namespace, s)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Listed != tc.want || len(s.Namespaces) != tc.counts[0] || len(s.LimitRanges) != tc.counts[1] || len(s.Quotas) != tc.counts[2] {
				t.Errorf("listed %+v, %d namespaces %d limit ranges %d quotas; want %+v, %v", s.Listed, len(s.Namespaces), len(s.LimitRanges), len(s.Quotas), tc.want, tc.counts)
			}
			if len(s.LimitRanges) == 1 && (s.LimitRanges[0].Default.Memory == nil || *s.LimitRanges[0].Default.Memory != 1<<30) {
				t.Errorf("limit range %+v", s.LimitRanges[0])
			}
		})
	}
}
