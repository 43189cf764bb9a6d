package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewatch/nodewatch/internal/simcluster"
)

// Kinds of the company's jobs.
const (
	kindDeployment = "Deployment"
	kindRC         = "ReplicationController"
	kindCronJob    = "CronJob"
	kindDaemonSet  = "DaemonSet"
)

// job is one of the company's jobs: a workload, its simulated memory (the
// simcluster annotations) and, for a CronJob, its schedule.
type job struct {
	Kind string
	simcluster.Workload
	Schedule string // CronJobs only
	Behaves  string // what its memory does, for the table
}

// Story timing. The story took weeks; the demo compresses it to minutes, so
// the leak is far faster than a real one (the story's JVM job grew a few
// hundred MiB an hour) and evicted pods move after seconds, not 5 minutes.
const (
	nodeCount  = 4
	nodeMemory = "8Gi"
	// leakMiBPerMin fills an 8 GiB node that holds one unanswered-emails
	// pod and its share of the other jobs in about 2 minutes.
	leakMiBPerMin = 3200
	// evictAfter is how long pods stay bound to an unreachable node before
	// the taint eviction controller deletes them and their controllers
	// recreate them elsewhere (Kubernetes' default: 300 s).
	evictAfter int64 = 15
)

// company is the story's company: "a basic web server, syncers which fetch
// emails and events, consumers which process each email and event, and cron
// jobs". Every job has memory requests and limits but one: the
// unanswered-emails ReplicationController, whose JVM leaks.
var company = []job{
	{Kind: kindDeployment, Behaves: "steady 350Mi", Workload: simcluster.Workload{
		Namespace: "web", Name: "frontend", Replicas: 4, MemoryRequest: "256Mi", MemoryLimit: "512Mi",
		Annotations: map[string]string{simcluster.AnnotationMemory: "350Mi"}}},
	{Kind: kindDeployment, Behaves: "steady 300Mi", Workload: simcluster.Workload{
		Namespace: "sync", Name: "email-syncer", Replicas: 2, MemoryRequest: "256Mi", MemoryLimit: "512Mi",
		Annotations: map[string]string{simcluster.AnnotationMemory: "300Mi"}}},
	{Kind: kindDeployment, Behaves: "steady 150Mi", Workload: simcluster.Workload{
		Namespace: "sync", Name: "event-syncer", Replicas: 2, MemoryRequest: "128Mi", MemoryLimit: "256Mi",
		Annotations: map[string]string{simcluster.AnnotationMemory: "150Mi"}}},
	{Kind: kindDeployment, Behaves: "250Mi, 1200Mi for 15 s of every 90 s", Workload: simcluster.Workload{
		Namespace: "emails", Name: "intro-detector", Replicas: 2, MemoryRequest: "512Mi", MemoryLimit: "1536Mi",
		Annotations: map[string]string{simcluster.AnnotationMemory: "250Mi", simcluster.AnnotationSpike: "1200Mi"}}},
	// A consumer that fills a cache in its first half minute, then holds:
	// growth that stops is no leak.
	{Kind: kindDeployment, Behaves: "200Mi, filling a cache to 800Mi in its first 30 s", Workload: simcluster.Workload{
		Namespace: "events", Name: "event-consumer", Replicas: 2, MemoryRequest: "768Mi", MemoryLimit: "1Gi",
		Annotations: map[string]string{simcluster.AnnotationMemory: "200Mi", simcluster.AnnotationLeak: "1200", simcluster.AnnotationWarmup: "30"}}},
	{Kind: kindRC, Behaves: fmt.Sprintf("600Mi, growing %d MiB a minute", leakMiBPerMin), Workload: simcluster.Workload{
		Namespace: "emails", Name: "unanswered-emails", Replicas: 2,
		Annotations: map[string]string{simcluster.AnnotationMemory: "600Mi", simcluster.AnnotationLeak: fmt.Sprint(leakMiBPerMin)}}},
	{Kind: kindCronJob, Schedule: "* * * * *", Behaves: "a Job every minute (the story's: every morning)", Workload: simcluster.Workload{
		Namespace: "cron", Name: "daily-roundup", MemoryRequest: "128Mi", MemoryLimit: "256Mi",
		Annotations: map[string]string{simcluster.AnnotationMemory: "100Mi"}}},
	{Kind: kindCronJob, Schedule: "*/2 * * * *", Behaves: "a Job every 2 minutes", Workload: simcluster.Workload{
		Namespace: "cron", Name: "refresh-interactions", MemoryRequest: "256Mi", MemoryLimit: "512Mi",
		Annotations: map[string]string{simcluster.AnnotationMemory: "200Mi"}}},
	// On every node, so on every failed one: suspects must not blame it.
	{Kind: kindDaemonSet, Behaves: "steady 100Mi, one pod per node", Workload: simcluster.Workload{
		Namespace: "logging", Name: "log-shipper", Replicas: nodeCount, MemoryRequest: "128Mi", MemoryLimit: "256Mi",
		Annotations: map[string]string{simcluster.AnnotationMemory: "100Mi"}}},
}

// culprit is the job the story is about.
var culprit = company[slices.IndexFunc(company, func(j job) bool { return j.Name == "unanswered-emails" })]

// String names the job as nodewatch names workloads: namespace/Kind/name.
func (j job) String() string { return j.Namespace + "/" + j.Kind + "/" + j.Name }

// template is the job's pod template, with the short eviction of the demo.
func (j job) template() corev1.PodTemplateSpec {
	t := j.PodTemplate()
	if j.Kind == kindCronJob {
		t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		return t
	}
	if j.Kind == kindDaemonSet { // its controller's tolerations keep it on its node
		return t
	}
	for _, taint := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		t.Spec.Tolerations = append(t.Spec.Tolerations, corev1.Toleration{
			Key: taint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(evictAfter),
		})
	}
	return t
}

// create creates the job's controller.
func (j job) create(ctx context.Context, c *simcluster.Cluster) error {
	if err := c.EnsureNamespace(ctx, j.Namespace); err != nil {
		return err
	}
	meta := metav1.ObjectMeta{Name: j.Name, Namespace: j.Namespace}
	tmpl := j.template()
	var err error
	switch j.Kind {
	case kindDeployment:
		_, err = c.Client.AppsV1().Deployments(j.Namespace).Create(ctx, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Replicas: ptr(j.Replicas), Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl,
		}}, metav1.CreateOptions{})
	case kindRC:
		_, err = c.Client.CoreV1().ReplicationControllers(j.Namespace).Create(ctx, &corev1.ReplicationController{ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr(j.Replicas), Selector: tmpl.Labels, Template: &tmpl,
		}}, metav1.CreateOptions{})
	case kindDaemonSet:
		_, err = c.Client.AppsV1().DaemonSets(j.Namespace).Create(ctx, &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl,
		}}, metav1.CreateOptions{})
	case kindCronJob:
		_, err = c.Client.BatchV1().CronJobs(j.Namespace).Create(ctx, &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{
			Schedule: j.Schedule, ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}},
		}}, metav1.CreateOptions{})
	default:
		err = fmt.Errorf("unknown kind %q", j.Kind)
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", j, err)
	}
	return nil
}

// companyTable describes the company for the narration.
func companyTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-48s %-6s %-22s %s\n", "WORKLOAD", "PODS", "MEMORY REQUEST/LIMIT", "SIMULATED MEMORY")
	for _, j := range company {
		pods := fmt.Sprint(j.Replicas)
		if j.Kind == kindCronJob {
			pods = "-"
		}
		fmt.Fprintf(&b, "%-48s %-6s %-22s %s\n", j, pods, orNone(j.MemoryRequest)+" / "+orNone(j.MemoryLimit), j.Behaves)
	}
	return b.String()
}

func orNone(q string) string {
	if q == "" {
		return "none"
	}
	return q
}

func ptr[T any](v T) *T { return &v }
