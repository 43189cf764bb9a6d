package kube

import (
	"context"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// eventStream is the events' reflector store. Events are not cached: a
// cluster holds tens of thousands (at 1,000 nodes the scheduler's alone are
// 30,000), and nodewatch only hands each one on, as it arrives, to be kept
// in its data dir. A relist hands them all on again; the receiver must be
// idempotent (the data dir keys events by UID).
type eventStream struct {
	fn     func(*corev1.Event)
	touch  func()
	synced atomic.Bool
}

func newEventReflector(client kubernetes.Interface, s *eventStream) *cache.Reflector {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Events(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Events(metav1.NamespaceAll).Watch(ctx, o)
		},
	}
	return cache.NewReflectorWithOptions(lw, &corev1.Event{}, s, cache.ReflectorOptions{Name: "events"})
}

var _ cache.TransformingStore = (*eventStream)(nil)

func (s *eventStream) Add(obj any) error {
	s.touch()
	if e, ok := obj.(*corev1.Event); ok && s.fn != nil && (e.InvolvedObject.Kind == "Node" || e.InvolvedObject.Kind == "Pod") {
		s.fn(e)
	}
	return nil
}

func (s *eventStream) Update(obj any) error { return s.Add(obj) }

func (s *eventStream) Delete(any) error { s.touch(); return nil }

// Replace is a (re)list: every event is handed on, and the stream counts as
// synced.
func (s *eventStream) Replace(list []any, _ string) error {
	for _, obj := range list {
		_ = s.Add(obj)
	}
	s.synced.Store(true)
	return nil
}

func (s *eventStream) Resync() error { return nil }

// Transformer makes the reflector slim events as they arrive in a
// streamed first list (cache.TransformingStore), instead of holding them
// all in full until the list ends.
func (s *eventStream) Transformer() cache.TransformFunc { return slimEvent }

func slimEvent(obj any) (any, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return obj, nil
	}
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: e.Name, Namespace: e.Namespace, UID: e.UID, ResourceVersion: e.ResourceVersion},
		InvolvedObject: corev1.ObjectReference{Kind: e.InvolvedObject.Kind, Namespace: e.InvolvedObject.Namespace, Name: e.InvolvedObject.Name},
		Reason:         e.Reason, Message: e.Message, Type: e.Type, Count: e.Count,
		FirstTimestamp: e.FirstTimestamp, LastTimestamp: e.LastTimestamp, EventTime: e.EventTime}, nil
}
