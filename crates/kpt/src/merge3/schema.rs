//! The part of the Kubernetes OpenAPI schema that the three-way merge needs: which lists are
//! merged per element (`x-kubernetes-patch-strategy: merge`) and by which keys
//! (`x-kubernetes-list-map-keys`, else `x-kubernetes-patch-merge-key`).
//!
//! kyaml looks these up in the Kubernetes 1.21 swagger compiled into kpt, for built-in kinds
//! only; lists of other kinds (CRDs) and lists without a patch strategy are replaced as a whole.
//! This table holds the strategic lists of the workload, service and metadata types, which is
//! where real packages have them.

/// What the schema says about a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Schema {
    /// An object of a known type.
    Object(Ty),
    /// A list merged per element by `keys` (empty: a list of scalars merged as a set).
    Merge { keys: &'static [&'static str], element: Option<Ty> },
}

/// Known types that contain strategic lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// Any built-in kind: only `metadata` is described.
    Builtin,
    Pod,
    PodStatus,
    PodTemplate,
    /// Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, ReplicationController.
    Workload,
    WorkloadSpec,
    WorkloadStatus,
    CronJob,
    CronJobSpec,
    JobTemplateSpec,
    PodTemplateSpec,
    PodSpec,
    Container,
    Service,
    ServiceSpec,
    ServiceAccount,
    ObjectMeta,
}

/// The schema of a resource type, `None` for kinds that are not built into Kubernetes.
pub(crate) fn for_resource(api_version: &str, kind: &str) -> Option<Schema> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let ty = match (group, kind) {
        ("", "Pod") => Ty::Pod,
        ("", "PodTemplate") => Ty::PodTemplate,
        ("", "ReplicationController") => Ty::Workload,
        ("", "Service") => Ty::Service,
        ("", "ServiceAccount") => Ty::ServiceAccount,
        ("apps" | "extensions", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => {
            Ty::Workload
        }
        ("batch", "Job") => Ty::Workload,
        ("batch", "CronJob") => Ty::CronJob,
        _ if BUILTIN_GROUPS.contains(&group) && version.starts_with('v') => Ty::Builtin,
        _ => return None,
    };
    Some(Schema::Object(ty))
}

const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "extensions",
    "autoscaling",
    "policy",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "storage.k8s.io",
    "apiextensions.k8s.io",
    "admissionregistration.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "certificates.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
    "events.k8s.io",
    "apiregistration.k8s.io",
    "flowcontrol.apiserver.k8s.io",
];

/// The schema of field `name` of an object of type `ty`.
pub(crate) fn field(ty: Ty, name: &str) -> Option<Schema> {
    use Schema::{Merge, Object};
    use Ty::*;
    let named: &'static [&'static str] = &["name"];
    Some(match (ty, name) {
        (
            Builtin | Pod | PodTemplate | Workload | CronJob | Service | ServiceAccount
            | JobTemplateSpec | PodTemplateSpec,
            "metadata",
        ) => Object(ObjectMeta),
        (ObjectMeta, "finalizers") => Merge { keys: &[], element: None },
        (ObjectMeta, "ownerReferences") => Merge { keys: &["uid"], element: None },
        (Pod, "spec") | (PodTemplateSpec, "spec") => Object(PodSpec),
        (Pod, "status") => Object(PodStatus),
        (PodStatus | WorkloadStatus, "conditions") => Merge { keys: &["type"], element: None },
        (PodTemplate | WorkloadSpec, "template") => Object(PodTemplateSpec),
        (Workload, "spec") | (JobTemplateSpec, "spec") => Object(WorkloadSpec),
        (Workload, "status") => Object(WorkloadStatus),
        (CronJob, "spec") => Object(CronJobSpec),
        (CronJobSpec, "jobTemplate") => Object(JobTemplateSpec),
        (PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            Merge { keys: named, element: Some(Container) }
        }
        (PodSpec, "volumes" | "imagePullSecrets") => Merge { keys: named, element: None },
        (PodSpec, "hostAliases") => Merge { keys: &["ip"], element: None },
        (PodSpec, "topologySpreadConstraints") => {
            Merge { keys: &["topologyKey", "whenUnsatisfiable"], element: None }
        }
        (Container, "ports") => Merge { keys: &["containerPort", "protocol"], element: None },
        (Container, "env") => Merge { keys: named, element: None },
        (Container, "volumeMounts") => Merge { keys: &["mountPath"], element: None },
        (Container, "volumeDevices") => Merge { keys: &["devicePath"], element: None },
        (Service, "spec") => Object(ServiceSpec),
        (ServiceSpec, "ports") => Merge { keys: &["port", "protocol"], element: None },
        (ServiceAccount, "secrets") => Merge { keys: named, element: None },
        _ => return None,
    })
}
