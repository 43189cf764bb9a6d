package kube

import (
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func metaOf(o runtime.Object) (metav1.Object, error) {
	m, err := meta.Accessor(o)
	if err != nil {
		return nil, fmt.Errorf("reading object metadata: %w", err)
	}
	return m, nil
}

// kindOf names the kind of the typed objects List reads for owners; list
// items come without TypeMeta.
func kindOf(o runtime.Object) string {
	switch o.(type) {
	case *appsv1.ReplicaSet:
		return "ReplicaSet"
	case *batchv1.Job:
		return "Job"
	}
	return o.GetObjectKind().GroupVersionKind().Kind
}

func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
