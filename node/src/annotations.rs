//! Annotations and task labels that carry kube-mesos facts between the
//! framework, the executor and a restarted framework (DESIGN.md:
//! "Identities and invariants"). The framework writes them at placement;
//! together with Mesos reconciliation they let it rebuild its state from
//! Kubernetes objects alone.

/// Pod annotation: the Mesos framework ID that launched the pod's task.
pub const ANNOTATION_FRAMEWORK_ID: &str = "kube-mesos.io/framework-id";
/// Pod annotation: the Mesos agent the pod's task runs on. Node annotation
/// (same key): the Mesos agent behind the Node.
pub const ANNOTATION_AGENT_ID: &str = "kube-mesos.io/agent-id";
/// Pod annotation: the Mesos task ID of the pod's current task
/// (`pod.<uid>`, or `pod.<uid>.<n>` once relaunched; see [`crate::task`]).
pub const ANNOTATION_TASK_ID: &str = "kube-mesos.io/task-id";
/// Pod annotation: the executor ID the task was launched on.
pub const ANNOTATION_EXECUTOR_ID: &str = "kube-mesos.io/executor-id";
/// Pod annotation: the executor's resources as launched (Mesos JSON of an
/// `ExecutorInfo` holding only the ID and resources). Mesos requires every
/// later task on a running executor to repeat its `ExecutorInfo` exactly,
/// resources included; this lets a restarted framework do so.
pub const ANNOTATION_EXECUTOR_RESOURCES: &str = "kube-mesos.io/executor-resources";
/// Pod annotation a pod uses to choose its Mesos role.
pub const ANNOTATION_ROLE: &str = "kube-mesos.io/role";

/// Task label: the pod's namespace.
pub const LABEL_POD_NAMESPACE: &str = "kube-mesos.io/namespace";
/// Task label: the pod's name.
pub const LABEL_POD_NAME: &str = "kube-mesos.io/name";
/// Task label: the pod's UID.
pub const LABEL_POD_UID: &str = "kube-mesos.io/uid";
