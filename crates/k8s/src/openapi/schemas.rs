//! The OpenAPI v3 component schemas of every served kind and of the apimachinery types they use.
//!
//! Field names, types and `required` lists follow the Go types of Porch
//! (`api/porch/v1alpha1/types.go`, `api/porchconfig/v1alpha1/repository_types.go`) and of
//! `k8s.io/apimachinery/pkg/apis/meta/v1`, because strict validation (kubectl's client-side
//! validation and [`super::unknown_fields`]) rejects every field that is not declared here. Names
//! follow the real servers: Porch's aggregated apiserver names its types after the Go package
//! (`com.github.nephio-project.porch.api.porch.v1alpha1.PackageRevision`), the kube-apiserver
//! names CRD types after the reversed group (`dev.kpt.porch.config.v1alpha1.Repository`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::resources::{self, ApiResource};

pub(super) const REF_PREFIX: &str = "#/components/schemas/";
pub(super) const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const RUNTIME: &str = "io.k8s.apimachinery.pkg.runtime";
const PORCH: &str = "com.github.nephio-project.porch.api.porch.v1alpha1";
const CONFIG: &str = "dev.kpt.porch.config.v1alpha1";

/// Schema name of a served kind: `com.github.nephio-project.porch.api.porch.v1alpha1.PackageRevision`.
pub(super) fn kind_schema_name(resource: &ApiResource, kind: &str) -> String {
    if resource.group == resources::CONFIG_GROUP {
        format!("{CONFIG}.{kind}")
    } else {
        format!("{PORCH}.{kind}")
    }
}

pub(super) fn meta(name: &str) -> String {
    format!("{META}.{name}")
}

/// Every component schema, by name.
pub(super) fn all() -> BTreeMap<String, Value> {
    let mut res = BTreeMap::new();
    apimachinery(&mut res);
    porch(&mut res);
    repository(&mut res);
    for resource in resources::RESOURCES {
        kind_and_list(&mut res, resource);
    }
    res
}

fn kind_and_list(res: &mut BTreeMap<String, Value>, resource: &ApiResource) {
    let gvk =
        |kind: &str| json!([{"group": resource.group, "kind": kind, "version": resource.version}]);
    let api_version = prop_string(
        "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
    );
    let kind_prop = prop_string(
        "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
    );
    let (description, spec_name, status_name) = match resource.kind {
        "PackageRevision" => (
            "PackageRevision is a revision of a package in a repository: a draft being edited, a proposal, or a published revision.",
            "PackageRevisionSpec",
            "PackageRevisionStatus",
        ),
        "PackageRevisionResources" => (
            "PackageRevisionResources holds the files of a package revision.",
            "PackageRevisionResourcesSpec",
            "PackageRevisionResourcesStatus",
        ),
        "PorchPackage" => (
            "PorchPackage is a package in a repository, the set of its package revisions.",
            "PackageSpec",
            "PackageStatus",
        ),
        _ => (
            "Repository registers a git repository or OCI registry that holds kpt packages.",
            "RepositorySpec",
            "RepositoryStatus",
        ),
    };
    let mut kind_schema = object(
        description,
        &[],
        vec![
            ("apiVersion", api_version.clone()),
            ("kind", kind_prop.clone()),
            (
                "metadata",
                reference_with_default(
                    &meta("ObjectMeta"),
                    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
                ),
            ),
            ("spec", reference_with_default(&kind_schema_name(resource, spec_name), "")),
            ("status", reference_with_default(&kind_schema_name(resource, status_name), "")),
        ],
    );
    kind_schema["x-kubernetes-group-version-kind"] = gvk(resource.kind);
    res.insert(kind_schema_name(resource, resource.kind), kind_schema);

    let mut list = object(
        &format!("{} is a list of {} objects.", resource.list_kind, resource.kind),
        &["items"],
        vec![
            ("apiVersion", api_version),
            (
                "items",
                array(
                    reference_with_default(&kind_schema_name(resource, resource.kind), ""),
                    &format!("Items is the list of {}.", resource.kind),
                ),
            ),
            ("kind", kind_prop),
            (
                "metadata",
                reference_with_default(
                    &meta("ListMeta"),
                    "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                ),
            ),
        ],
    );
    list["x-kubernetes-group-version-kind"] = gvk(resource.list_kind);
    res.insert(kind_schema_name(resource, resource.list_kind), list);
}

fn porch(res: &mut BTreeMap<String, Value>) {
    let name = |it: &str| format!("{PORCH}.{it}");
    let mut add = |key: &str, value: Value| {
        res.insert(name(key), value);
    };

    add(
        "PackageRevisionSpec",
        object(
            "PackageRevisionSpec defines the desired state of PackageRevision",
            &[],
            vec![
                (
                    "packageName",
                    prop_string("PackageName identifies the package in the repository."),
                ),
                (
                    "repository",
                    prop_string(
                        "RepositoryName is the name of the Repository object containing this package.",
                    ),
                ),
                (
                    "workspaceName",
                    prop_string(
                        "WorkspaceName is a short, unique description of the changes contained in this package revision.",
                    ),
                ),
                ("revision", int32("Revision identifies the version of the package.")),
                (
                    "parent",
                    reference(
                        &name("ParentReference"),
                        "Deprecated. Parent references a package that provides resources to us",
                    ),
                ),
                (
                    "lifecycle",
                    string_enum(
                        "Lifecycle of the package revision.",
                        &["Draft", "Proposed", "Published", "DeletionProposed"],
                    ),
                ),
                (
                    "tasks",
                    array(
                        reference_with_default(&name("Task"), ""),
                        "The task slice holds the task that created the package revision (init, clone, edit or upgrade). Create requests carry at most one task; tasks in update requests are ignored.",
                    ),
                ),
                (
                    "readinessGates",
                    array(
                        reference_with_default(&name("ReadinessGate"), ""),
                        "Conditions that must be True before the package revision can be approved.",
                    ),
                ),
                (
                    "packageMetadata",
                    reference(
                        &name("PackageMetadata"),
                        "Labels and annotations of the package (Kptfile).",
                    ),
                ),
            ],
        ),
    );
    add(
        "ParentReference",
        object(
            "Deprecated. ParentReference is a reference to a parent package",
            &["name"],
            vec![("name", prop_string("Name is the name of the parent PackageRevision"))],
        ),
    );
    add(
        "PackageMetadata",
        object("", &[], vec![("labels", map_of_strings("")), ("annotations", map_of_strings(""))]),
    );
    add("ReadinessGate", object("", &[], vec![("conditionType", prop_string(""))]));
    add(
        "Task",
        object(
            "",
            &["type"],
            vec![
                (
                    "type",
                    string_enum(
                        "Type of the task.",
                        &["init", "clone", "edit", "upgrade", "render", "push", ""],
                    ),
                ),
                ("init", reference(&name("PackageInitTaskSpec"), "")),
                ("clone", reference(&name("PackageCloneTaskSpec"), "")),
                ("edit", reference(&name("PackageEditTaskSpec"), "")),
                ("upgrade", reference(&name("PackageUpgradeTaskSpec"), "")),
            ],
        ),
    );
    add(
        "PackageInitTaskSpec",
        object(
            "PackageInitTaskSpec defines the package initialization task.",
            &[],
            vec![
                (
                    "subpackage",
                    prop_string(
                        "`Subpackage` is a directory path to a subpackage to initialize. If unspecified, the main package will be initialized.",
                    ),
                ),
                (
                    "description",
                    prop_string("`Description` is a short description of the package."),
                ),
                (
                    "keywords",
                    array(
                        prop_string(""),
                        "`Keywords` is a list of keywords describing the package.",
                    ),
                ),
                (
                    "site",
                    prop_string("`Site` is a link to page with information about the package."),
                ),
            ],
        ),
    );
    add(
        "PackageCloneTaskSpec",
        object(
            "",
            &[],
            vec![(
                "upstreamRef",
                reference_with_default(
                    &name("UpstreamPackage"),
                    "`Upstream` is the reference to the upstream package to clone.",
                ),
            )],
        ),
    );
    add(
        "PackageEditTaskSpec",
        object("", &[], vec![("sourceRef", reference(&name("PackageRevisionRef"), ""))]),
    );
    add(
        "PackageUpgradeTaskSpec",
        object(
            "",
            &[],
            vec![
                (
                    "oldUpstreamRef",
                    reference_with_default(
                        &name("PackageRevisionRef"),
                        "`OldUpstream` is the reference to the original upstream package revision that is the common ancestor of the local package and the new upstream package revision.",
                    ),
                ),
                (
                    "newUpstreamRef",
                    reference_with_default(
                        &name("PackageRevisionRef"),
                        "`NewUpstream` is the reference to the new upstream package revision that the local package will be upgraded to.",
                    ),
                ),
                (
                    "localPackageRevisionRef",
                    reference_with_default(
                        &name("PackageRevisionRef"),
                        "`LocalPackageRevisionRef` is the reference to the local package revision that contains all the local changes on top of the `OldUpstream` package revision.",
                    ),
                ),
                (
                    "strategy",
                    prop_string(
                        "Defines which strategy should be used to update the package. It defaults to 'resource-merge'.\n * resource-merge: Perform a structural comparison of the original / updated resources, and merge the changes into the local package.\n * fast-forward: Fail without updating if the local package was modified since it was fetched.\n * force-delete-replace: Wipe all the local changes to the package and replace it with the remote version.\n * copy-merge: Copy all the remote changes to the local package.",
                    ),
                ),
            ],
        ),
    );
    add(
        "UpstreamPackage",
        object(
            "UpstreamRepository repository may be specified directly or by referencing another Repository resource.",
            &[],
            vec![
                (
                    "type",
                    prop_string(
                        "Type of the repository (i.e. git). If empty, `upstreamRef` will be used.",
                    ),
                ),
                (
                    "git",
                    reference(
                        &name("GitPackage"),
                        "Git upstream package specification. Required if `type` is `git`. Must be unspecified if `type` is not `git`.",
                    ),
                ),
                (
                    "oci",
                    reference(
                        &name("OciPackage"),
                        "OCI upstream package specification. Required if `type` is `oci`. Must be unspecified if `type` is not `oci`.",
                    ),
                ),
                (
                    "upstreamRef",
                    reference(
                        &name("PackageRevisionRef"),
                        "UpstreamRef is the reference to the package from a registered repository rather than external package.",
                    ),
                ),
            ],
        ),
    );
    add(
        "GitPackage",
        object(
            "",
            &["repo", "ref", "directory"],
            vec![
                (
                    "repo",
                    prop_string(
                        "Address of the Git repository, for example:\n  `https://github.com/GoogleCloudPlatform/blueprints.git`",
                    ),
                ),
                (
                    "ref",
                    prop_string(
                        "`Ref` is the git ref containing the package. Ref can be a branch, tag, or commit SHA.",
                    ),
                ),
                (
                    "directory",
                    prop_string(
                        "Directory within the Git repository where the packages are stored. A subdirectory of this directory containing a Kptfile is considered a package.",
                    ),
                ),
                (
                    "secretRef",
                    reference_with_default(
                        &name("SecretRef"),
                        "Reference to secret containing authentication credentials. Optional.",
                    ),
                ),
            ],
        ),
    );
    add(
        "SecretRef",
        object(
            "",
            &["name"],
            vec![(
                "name",
                prop_string(
                    "Name of the secret. The secret is expected to be located in the same namespace as the resource containing the reference.",
                ),
            )],
        ),
    );
    add(
        "OciPackage",
        object(
            "OciPackage describes a repository compatible with the Open Container Registry standard.",
            &["image"],
            vec![("image", prop_string("Image is the address of an OCI image."))],
        ),
    );
    add(
        "PackageRevisionRef",
        object(
            "PackageRevisionRef is a reference to a package revision.",
            &["name"],
            vec![(
                "name",
                prop_string("`Name` is the name of the referenced PackageRevision resource."),
            )],
        ),
    );
    add(
        "PackageRevisionStatus",
        object(
            "PackageRevisionStatus defines the observed state of PackageRevision",
            &[],
            vec![
                (
                    "upstreamLock",
                    reference(
                        &name("Locator"),
                        "UpstreamLock identifies the upstream data for this package.",
                    ),
                ),
                (
                    "selfLock",
                    reference(
                        &name("Locator"),
                        "SelfLock identifies the location of the current package's data",
                    ),
                ),
                (
                    "publishedBy",
                    prop_string(
                        "PublishedBy is the identity of the user who approved the packagerevision.",
                    ),
                ),
                (
                    "publishTimestamp",
                    reference(
                        &meta("Time"),
                        "PublishedAt is the time when the packagerevision were approved.",
                    ),
                ),
                (
                    "deployment",
                    boolean(
                        "Deployment is true if this is a deployment package (in a deployment repository).",
                    ),
                ),
                ("conditions", array(reference_with_default(&name("Condition"), ""), "")),
            ],
        ),
    );
    add(
        "Locator",
        object(
            "Locator is a resolved locator for the last fetch of the package.",
            &[],
            vec![
                ("type", prop_string("Type is the type of origin.")),
                (
                    "git",
                    reference(
                        &name("GitLock"),
                        "Git is the resolved locator for a package on Git.",
                    ),
                ),
            ],
        ),
    );
    add(
        "GitLock",
        object(
            "GitLock is the resolved locator for a package on Git.",
            &[],
            vec![
                (
                    "repo",
                    prop_string(
                        "Repo is the git repository that was fetched. e.g. 'https://github.com/kubernetes/examples.git'",
                    ),
                ),
                (
                    "directory",
                    prop_string(
                        "Directory is the sub directory of the git repository that was fetched. e.g. 'staging/cockroachdb'",
                    ),
                ),
                (
                    "ref",
                    prop_string(
                        "Ref can be a Git branch, tag, or a commit SHA-1 that was fetched. e.g. 'master'",
                    ),
                ),
                (
                    "commit",
                    prop_string(
                        "Commit is the SHA-1 for the last fetch of the package. This is set by kpt for bookkeeping purposes.",
                    ),
                ),
            ],
        ),
    );
    add(
        "Condition",
        object(
            "",
            &["type", "status"],
            vec![
                ("type", prop_string("")),
                ("status", string_enum("", &["True", "False", "Unknown"])),
                ("reason", prop_string("")),
                ("message", prop_string("")),
            ],
        ),
    );
    add(
        "PackageRevisionResourcesSpec",
        object(
            "PackageRevisionResourcesSpec represents resources (as ResourceList serialized as yaml string) of the PackageRevision.",
            &[],
            vec![
                (
                    "packageName",
                    prop_string("PackageName identifies the package in the repository."),
                ),
                (
                    "workspaceName",
                    prop_string("WorkspaceName identifies the workspace of the package."),
                ),
                ("revision", int32("Revision identifies the version of the package.")),
                (
                    "repository",
                    prop_string(
                        "RepositoryName is the name of the Repository object containing this package.",
                    ),
                ),
                (
                    "resources",
                    map_of_strings(
                        "Resources are the content of the package: file path relative to the package root to the full file content.",
                    ),
                ),
            ],
        ),
    );
    add(
        "PackageRevisionResourcesStatus",
        object(
            "PackageRevisionResourcesStatus represents state of the rendered package resources.",
            &[],
            vec![(
                "renderStatus",
                reference_with_default(
                    &name("RenderStatus"),
                    "RenderStatus contains the result of rendering the package resources.",
                ),
            )],
        ),
    );
    add(
        "RenderStatus",
        object(
            "RenderStatus represents the result of performing render operation on a package resources.",
            &["error"],
            vec![
                ("result", reference_with_default(&name("ResultList"), "")),
                ("error", prop_string("")),
            ],
        ),
    );
    add(
        "ResultList",
        object(
            "ResultList contains aggregated results from multiple functions",
            &["exitCode"],
            vec![
                ("apiVersion", prop_string("")),
                ("kind", prop_string("")),
                ("metadata", reference_with_default(&meta("ObjectMeta"), "")),
                ("exitCode", int32("ExitCode is the exit code of kpt command")),
                (
                    "items",
                    array(
                        reference(&name("Result"), ""),
                        "Items contain a list of function result",
                    ),
                ),
            ],
        ),
    );
    add(
        "Result",
        object(
            "Result contains the structured result from an individual function",
            &["exitCode"],
            vec![
                (
                    "image",
                    prop_string(
                        "Image is the full name of the image that generates this result Image and Exec are mutually exclusive",
                    ),
                ),
                (
                    "exec",
                    prop_string(
                        "ExecPath is the the absolute os-specific path to the executable file If user provides an executable file with commands, ExecPath should contain the entire input string.",
                    ),
                ),
                ("stderr", prop_string("Stderr is the content in function stderr")),
                ("exitCode", int32("ExitCode is the exit code from running the function")),
                (
                    "results",
                    array(
                        reference_with_default(&name("ResultItem"), ""),
                        "Results is the list of results for the function",
                    ),
                ),
            ],
        ),
    );
    add(
        "ResultItem",
        object(
            "ResultItem defines a validation result",
            &[],
            vec![
                (
                    "message",
                    prop_string("Message is a human readable message. This field is required."),
                ),
                ("severity", prop_string("Severity is the severity of this result")),
                (
                    "resourceRef",
                    reference(
                        &name("ResourceIdentifier"),
                        "ResourceRef is a reference to a resource. Required fields: apiVersion, kind, name.",
                    ),
                ),
                (
                    "field",
                    reference(
                        &name("Field"),
                        "Field is a reference to the field in a resource this result refers to",
                    ),
                ),
                (
                    "file",
                    reference(
                        &name("File"),
                        "File references a file containing the resource this result refers to",
                    ),
                ),
                (
                    "tags",
                    map_of_strings(
                        "Tags is an unstructured key value map stored with a result that may be set by external tools to store and retrieve arbitrary metadata",
                    ),
                ),
            ],
        ),
    );
    add(
        "ResourceIdentifier",
        object(
            "ResourceIdentifier contains the information needed to uniquely identify a resource in a cluster.",
            &[],
            vec![
                ("apiVersion", prop_string("")),
                ("kind", prop_string("")),
                ("name", prop_string("Name is the metadata.name field of a Resource")),
                (
                    "namespace",
                    prop_string("Namespace is the metadata.namespace field of a Resource"),
                ),
            ],
        ),
    );
    add(
        "Field",
        object(
            "Field references a field in a resource",
            &[],
            vec![
                ("path", prop_string("Path is the field path. This field is required.")),
                ("currentValue", prop_string("CurrentValue is the current field value")),
                (
                    "proposedValue",
                    prop_string(
                        "ProposedValue is the proposed value of the field to fix an issue.",
                    ),
                ),
            ],
        ),
    );
    add(
        "File",
        object(
            "File references a file containing a resource",
            &[],
            vec![
                (
                    "path",
                    prop_string(
                        "Path is relative path to the file containing the resource. This field is required.",
                    ),
                ),
                (
                    "index",
                    int32(
                        "Index is the index into the file containing the resource (i.e. if there are multiple resources in a single file)",
                    ),
                ),
            ],
        ),
    );
    add(
        "PackageSpec",
        object(
            "PackageSpec defines the desired state of Package",
            &[],
            vec![
                (
                    "packageName",
                    prop_string("PackageName identifies the package in the repository."),
                ),
                (
                    "repository",
                    prop_string(
                        "RepositoryName is the name of the Repository object containing this package.",
                    ),
                ),
            ],
        ),
    );
    add(
        "PackageStatus",
        object(
            "PackageStatus defines the observed state of Package",
            &[],
            vec![(
                "latestRevision",
                int32(
                    "LatestRevision identifies the package revision that is the latest published package revision belonging to this package.",
                ),
            )],
        ),
    );
}

fn repository(res: &mut BTreeMap<String, Value>) {
    let name = |it: &str| format!("{CONFIG}.{it}");
    let mut add = |key: &str, value: Value| {
        res.insert(name(key), value);
    };
    add(
        "RepositorySpec",
        object(
            "RepositorySpec defines the desired state of Repository",
            &[],
            vec![
                ("description", prop_string("User-friendly description of the repository")),
                (
                    "deployment",
                    boolean(
                        "The repository is a deployment repository; final packages in this repository are deployment ready.",
                    ),
                ),
                ("type", string_enum("Type of the repository (i.e. git, OCI)", &["git", "oci"])),
                (
                    "content",
                    with_default(
                        prop_string(
                            "The Content field is deprecated, please do not specify it in new manifests. For partial backward compatibility it is still recognized, but its only valid value is \"Package\", and if not specified its default value is also \"Package\".",
                        ),
                        json!("Package"),
                    ),
                ),
                ("sync", reference(&name("RepositorySync"), "Repository sync/reconcile details")),
                (
                    "git",
                    reference(
                        &name("GitRepository"),
                        "Git repository details. Required if `type` is `git`. Ignored if `type` is not `git`.",
                    ),
                ),
                (
                    "oci",
                    reference(
                        &name("OciRepository"),
                        "OCI repository details. Required if `type` is `oci`. Ignored if `type` is not `oci`.",
                    ),
                ),
            ],
        ),
    );
    add(
        "RepositorySync",
        object(
            "",
            &[],
            vec![
                (
                    "runOnceAt",
                    reference(
                        &meta("Time"),
                        "Value in metav1.Time format to trigger a one-time cache sync outside the periodic schedule.",
                    ),
                ),
                (
                    "schedule",
                    prop_string(
                        "Cron value to indicate when the repository should be synced periodically. Example: `*/10 * * * *` to sync every 10 minutes.",
                    ),
                ),
            ],
        ),
    );
    let mut branch = with_default(
        prop_string(
            "Name of the branch containing the packages. Finalized packages will be committed to this branch (if the repository allows write access). If unspecified, defaults to \"main\". This field is immutable after creation.",
        ),
        json!("main"),
    );
    branch["minLength"] = json!(1);
    add(
        "GitRepository",
        object(
            "GitRepository describes a Git repository.",
            &["repo"],
            vec![
                (
                    "repo",
                    prop_string(
                        "Address of the Git repository, for example:\n  `https://github.com/GoogleCloudPlatform/blueprints.git`",
                    ),
                ),
                ("branch", branch),
                (
                    "createBranch",
                    boolean(
                        "CreateBranch specifies if Porch should create the package branch if it doesn't exist.",
                    ),
                ),
                (
                    "directory",
                    prop_string(
                        "Directory within the Git repository where the packages are stored. A subdirectory of this directory containing a Kptfile is considered a package. If unspecified, defaults to root directory. This field is immutable after creation.",
                    ),
                ),
                (
                    "secretRef",
                    reference(
                        &name("SecretRef"),
                        "Reference to secret containing authentication credentials.",
                    ),
                ),
                ("author", prop_string("Author to use for commits")),
                ("email", prop_string("Email to use for commits")),
            ],
        ),
    );
    add(
        "OciRepository",
        object(
            "OciRepository describes a repository compatible with the Open Container Registry standard.",
            &["registry"],
            vec![
                ("registry", prop_string("Registry is the address of the OCI registry")),
                (
                    "secretRef",
                    reference(
                        &name("SecretRef"),
                        "Reference to secret containing authentication credentials.",
                    ),
                ),
            ],
        ),
    );
    add(
        "SecretRef",
        object(
            "",
            &["name"],
            vec![(
                "name",
                prop_string(
                    "Name of the secret. The secret is expected to be located in the same namespace as the resource containing the reference.",
                ),
            )],
        ),
    );
    add(
        "RepositoryStatus",
        object(
            "RepositoryStatus defines the observed state of Repository",
            &[],
            vec![
                (
                    "conditions",
                    array(
                        reference_with_default(&meta("Condition"), ""),
                        "Conditions describes the reconciliation state of the object.",
                    ),
                ),
                (
                    "lastFullSyncTime",
                    reference(
                        &meta("Time"),
                        "LastFullSyncTime is the timestamp of the last successful full repository sync.",
                    ),
                ),
                (
                    "observedGeneration",
                    int64(
                        "ObservedGeneration is the generation of the Repository spec that was last reconciled.",
                    ),
                ),
                (
                    "observedRunOnceAt",
                    reference(
                        &meta("Time"),
                        "ObservedRunOnceAt tracks the last observed value of spec.sync.runOnceAt.",
                    ),
                ),
                (
                    "packageCount",
                    int64(
                        "PackageCount is the number of package revisions discovered in the repository.",
                    ),
                ),
                (
                    "gitCommitHash",
                    prop_string(
                        "GitCommitHash is the commit hash of the configured branch for git repositories. Empty for OCI repositories.",
                    ),
                ),
                (
                    "nextFullSyncTime",
                    reference(
                        &meta("Time"),
                        "NextFullSyncTime is the timestamp when the next full sync is scheduled to occur.",
                    ),
                ),
            ],
        ),
    );
}

fn apimachinery(res: &mut BTreeMap<String, Value>) {
    let mut add = |key: &str, value: Value| {
        res.insert(meta(key), value);
    };
    add(
        "Time",
        json!({
            "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.  Wrappers are provided for many of the factory methods that the time package offers.",
            "type": "string",
            "format": "date-time",
        }),
    );
    add(
        "FieldsV1",
        json!({
            "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.",
            "type": "object",
        }),
    );
    add(
        "ManagedFieldsEntry",
        object(
            "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
            &[],
            vec![
                (
                    "apiVersion",
                    prop_string(
                        "APIVersion defines the version of this resource that this field set applies to.",
                    ),
                ),
                (
                    "fieldsType",
                    prop_string(
                        "FieldsType is the discriminator for the different fields format and version. There is currently only one possible value: \"FieldsV1\"",
                    ),
                ),
                (
                    "fieldsV1",
                    reference(
                        &meta("FieldsV1"),
                        "FieldsV1 holds the first JSON version format as described in the \"FieldsV1\" type.",
                    ),
                ),
                (
                    "manager",
                    prop_string("Manager is an identifier of the workflow managing these fields."),
                ),
                (
                    "operation",
                    prop_string(
                        "Operation is the type of operation which lead to this ManagedFieldsEntry being created. The only valid values for this field are 'Apply' and 'Update'.",
                    ),
                ),
                (
                    "subresource",
                    prop_string(
                        "Subresource is the name of the subresource used to update that object, or empty string if the object was updated through the main resource.",
                    ),
                ),
                (
                    "time",
                    reference(
                        &meta("Time"),
                        "Time is the timestamp of when the ManagedFields entry was added.",
                    ),
                ),
            ],
        ),
    );
    let mut owner_reference = object(
        "OwnerReference contains enough information to let you identify an owning object. An owning object must be in the same namespace as the dependent, or be cluster-scoped, so there is no namespace field.",
        &["apiVersion", "kind", "name", "uid"],
        vec![
            ("apiVersion", prop_string("API version of the referent.")),
            (
                "blockOwnerDeletion",
                boolean(
                    "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.",
                ),
            ),
            ("controller", boolean("If true, this reference points to the managing controller.")),
            (
                "kind",
                prop_string(
                    "Kind of the referent. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                ),
            ),
            (
                "name",
                prop_string(
                    "Name of the referent. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
                ),
            ),
            (
                "uid",
                prop_string(
                    "UID of the referent. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids",
                ),
            ),
        ],
    );
    owner_reference["x-kubernetes-map-type"] = json!("atomic");
    add("OwnerReference", owner_reference);

    let mut finalizers = array(
        prop_string(""),
        "Must be empty before the object is deleted from the registry. Each entry is an identifier for the responsible component that will remove the entry from the list.",
    );
    finalizers["x-kubernetes-list-type"] = json!("set");
    let mut owner_references = array(
        reference_with_default(&meta("OwnerReference"), ""),
        "List of objects depended by this object. If ALL objects in the list have been deleted, this object will be garbage collected.",
    );
    owner_references["x-kubernetes-list-map-keys"] = json!(["uid"]);
    owner_references["x-kubernetes-list-type"] = json!("map");
    add(
        "ObjectMeta",
        object(
            "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
            &[],
            vec![
                (
                    "annotations",
                    map_of_strings(
                        "Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations",
                    ),
                ),
                (
                    "creationTimestamp",
                    reference(
                        &meta("Time"),
                        "CreationTimestamp is a timestamp representing the server time when this object was created. Populated by the system. Read-only.",
                    ),
                ),
                (
                    "deletionGracePeriodSeconds",
                    int64(
                        "Number of seconds allowed for this object to gracefully terminate before it will be removed from the system. Only set when deletionTimestamp is also set. Read-only.",
                    ),
                ),
                (
                    "deletionTimestamp",
                    reference(
                        &meta("Time"),
                        "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. Populated by the system when a graceful deletion is requested. Read-only.",
                    ),
                ),
                ("finalizers", finalizers),
                (
                    "generateName",
                    prop_string(
                        "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.",
                    ),
                ),
                (
                    "generation",
                    int64(
                        "A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.",
                    ),
                ),
                (
                    "labels",
                    map_of_strings(
                        "Map of string keys and values that can be used to organize and categorize (scope and select) objects. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels",
                    ),
                ),
                (
                    "managedFields",
                    array(
                        reference_with_default(&meta("ManagedFieldsEntry"), ""),
                        "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.",
                    ),
                ),
                (
                    "name",
                    prop_string(
                        "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
                    ),
                ),
                (
                    "namespace",
                    prop_string(
                        "Namespace defines the space within which each name must be unique. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces",
                    ),
                ),
                ("ownerReferences", owner_references),
                (
                    "resourceVersion",
                    prop_string(
                        "An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed. Populated by the system. Read-only.",
                    ),
                ),
                (
                    "selfLink",
                    prop_string(
                        "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.",
                    ),
                ),
                (
                    "uid",
                    prop_string(
                        "UID is the unique in time and space value for this object. It is typically generated by the server on successful creation of a resource and is not allowed to change on PUT operations. Populated by the system. Read-only. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids",
                    ),
                ),
            ],
        ),
    );
    add(
        "ListMeta",
        object(
            "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
            &[],
            vec![
                (
                    "continue",
                    prop_string(
                        "continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available.",
                    ),
                ),
                (
                    "remainingItemCount",
                    int64(
                        "remainingItemCount is the number of subsequent items in the list which are not included in this list response.",
                    ),
                ),
                (
                    "resourceVersion",
                    prop_string(
                        "String that identifies the server's internal version of this object that can be used by clients to determine when objects have changed. Read-only.",
                    ),
                ),
                (
                    "selfLink",
                    prop_string(
                        "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.",
                    ),
                ),
            ],
        ),
    );
    add(
        "Condition",
        object(
            "Condition contains details for one aspect of the current state of this API Resource.",
            &["type", "status", "lastTransitionTime", "reason", "message"],
            vec![
                (
                    "lastTransitionTime",
                    reference(
                        &meta("Time"),
                        "lastTransitionTime is the last time the condition transitioned from one status to another.",
                    ),
                ),
                (
                    "message",
                    prop_string(
                        "message is a human readable message indicating details about the transition. This may be an empty string.",
                    ),
                ),
                (
                    "observedGeneration",
                    int64(
                        "observedGeneration represents the .metadata.generation that the condition was set based upon.",
                    ),
                ),
                (
                    "reason",
                    prop_string(
                        "reason contains a programmatic identifier indicating the reason for the condition's last transition.",
                    ),
                ),
                ("status", prop_string("status of the condition, one of True, False, Unknown.")),
                (
                    "type",
                    prop_string("type of condition in CamelCase or in foo.example.com/CamelCase."),
                ),
            ],
        ),
    );
    add(
        "StatusCause",
        object(
            "StatusCause provides more information about an api.Status failure, including cases when multiple errors are encountered.",
            &[],
            vec![
                (
                    "field",
                    prop_string(
                        "The field of the resource that has caused this error, as named by its JSON serialization.",
                    ),
                ),
                ("message", prop_string("A human-readable description of the cause of the error.")),
                (
                    "reason",
                    prop_string(
                        "A machine-readable description of the cause of the error. If this value is empty there is no information available.",
                    ),
                ),
            ],
        ),
    );
    add(
        "StatusDetails",
        object(
            "StatusDetails is a set of additional properties that MAY be set by the server to provide additional information about a response.",
            &[],
            vec![
                (
                    "causes",
                    array(
                        reference_with_default(&meta("StatusCause"), ""),
                        "The Causes array includes more details associated with the StatusReason failure.",
                    ),
                ),
                (
                    "group",
                    prop_string(
                        "The group attribute of the resource associated with the status StatusReason.",
                    ),
                ),
                (
                    "kind",
                    prop_string(
                        "The kind attribute of the resource associated with the status StatusReason.",
                    ),
                ),
                (
                    "name",
                    prop_string(
                        "The name attribute of the resource associated with the status StatusReason (when there is a single name which can be described).",
                    ),
                ),
                (
                    "retryAfterSeconds",
                    int32(
                        "If specified, the time in seconds before the operation should be retried.",
                    ),
                ),
                (
                    "uid",
                    prop_string(
                        "UID of the resource. (when there is a single resource which can be described).",
                    ),
                ),
            ],
        ),
    );
    let mut status = object(
        "Status is a return value for calls that don't return other objects.",
        &[],
        vec![
            (
                "apiVersion",
                prop_string(
                    "APIVersion defines the versioned schema of this representation of an object.",
                ),
            ),
            ("code", int32("Suggested HTTP return code for this status, 0 if not set.")),
            (
                "details",
                reference(&meta("StatusDetails"), "Extended data associated with the reason."),
            ),
            (
                "kind",
                prop_string(
                    "Kind is a string value representing the REST resource this object represents.",
                ),
            ),
            (
                "message",
                prop_string("A human-readable description of the status of this operation."),
            ),
            ("metadata", reference_with_default(&meta("ListMeta"), "Standard list metadata.")),
            (
                "reason",
                prop_string(
                    "A machine-readable description of why this operation is in the \"Failure\" status.",
                ),
            ),
            ("status", prop_string("Status of the operation. One of: \"Success\" or \"Failure\".")),
        ],
    );
    status["x-kubernetes-group-version-kind"] =
        json!([{"group": "", "kind": "Status", "version": "v1"}]);
    add("Status", status);
    add(
        "Preconditions",
        object(
            "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.",
            &[],
            vec![
                ("resourceVersion", prop_string("Specifies the target ResourceVersion")),
                ("uid", prop_string("Specifies the target UID.")),
            ],
        ),
    );
    let mut dry_run = array(
        prop_string(""),
        "When present, indicates that modifications should not be persisted.",
    );
    dry_run["x-kubernetes-list-type"] = json!("atomic");
    let mut delete_options = object(
        "DeleteOptions may be provided when deleting an API object.",
        &[],
        vec![
            (
                "apiVersion",
                prop_string(
                    "APIVersion defines the versioned schema of this representation of an object.",
                ),
            ),
            ("dryRun", dry_run),
            (
                "gracePeriodSeconds",
                int64("The duration in seconds before the object should be deleted."),
            ),
            (
                "ignoreStoreReadErrorWithClusterBreakingPotential",
                boolean(
                    "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.",
                ),
            ),
            (
                "kind",
                prop_string(
                    "Kind is a string value representing the REST resource this object represents.",
                ),
            ),
            (
                "orphanDependents",
                boolean(
                    "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.",
                ),
            ),
            (
                "preconditions",
                reference(
                    &meta("Preconditions"),
                    "Must be fulfilled before a deletion is carried out.",
                ),
            ),
            (
                "propagationPolicy",
                prop_string(
                    "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'.",
                ),
            ),
        ],
    );
    delete_options["x-kubernetes-group-version-kind"] =
        json!([{"group": "", "kind": "DeleteOptions", "version": "v1"}]);
    add("DeleteOptions", delete_options);
    add(
        "Patch",
        json!({
            "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
            "type": "object",
        }),
    );
    let mut watch_event = object(
        "Event represents a single event to a watched resource.",
        &["type", "object"],
        vec![
            (
                "object",
                reference_with_default(
                    &format!("{RUNTIME}.RawExtension"),
                    "Object is:\n * If Type is Added or Modified: the new state of the object.\n * If Type is Deleted: the state of the object immediately before deletion.\n * If Type is Error: *Status is recommended; other types may make sense\n   depending on context.",
                ),
            ),
            ("type", prop_string("")),
        ],
    );
    watch_event["x-kubernetes-group-version-kind"] =
        json!([{"group": "", "kind": "WatchEvent", "version": "v1"}]);
    add("WatchEvent", watch_event);
    res.insert(
        format!("{RUNTIME}.RawExtension"),
        json!({
            "description": "RawExtension is used to hold extensions in external versions.",
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        }),
    );
}

pub(super) fn reference(name: &str, description: &str) -> Value {
    let mut res = json!({"allOf": [{"$ref": format!("{REF_PREFIX}{name}")}]});
    if !description.is_empty() {
        res["description"] = json!(description);
    }
    res
}

/// A reference to a struct that is not a pointer in Go: kube-openapi adds `default: {}`.
fn reference_with_default(name: &str, description: &str) -> Value {
    let mut res = reference(name, description);
    res["default"] = json!({});
    res
}

fn object(description: &str, required: &[&str], properties: Vec<(&str, Value)>) -> Value {
    object_with_description(description, required, properties)
}

fn object_with_description(
    description: &str,
    required: &[&str],
    properties: Vec<(&str, Value)>,
) -> Value {
    let mut res = Map::new();
    if !description.is_empty() {
        res.insert("description".into(), json!(description));
    }
    res.insert("type".into(), json!("object"));
    let properties: Map<String, Value> =
        properties.into_iter().map(|(name, schema)| (name.to_owned(), schema)).collect();
    res.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        res.insert("required".into(), json!(required));
    }
    Value::Object(res)
}

fn prop_string(description: &str) -> Value {
    typed("string", None, description)
}

fn string_enum(description: &str, values: &[&str]) -> Value {
    let mut res = prop_string(description);
    res["enum"] = json!(values);
    res
}

fn int32(description: &str) -> Value {
    typed("integer", Some("int32"), description)
}

fn int64(description: &str) -> Value {
    typed("integer", Some("int64"), description)
}

fn boolean(description: &str) -> Value {
    typed("boolean", None, description)
}

fn typed(type_name: &str, format: Option<&str>, description: &str) -> Value {
    let mut res = json!({"type": type_name});
    if let Some(format) = format {
        res["format"] = json!(format);
    }
    if !description.is_empty() {
        res["description"] = json!(description);
    }
    res
}

fn with_default(mut schema: Value, default: Value) -> Value {
    schema["default"] = default;
    schema
}

fn array(items: Value, description: &str) -> Value {
    let mut res = json!({"type": "array", "items": items});
    if !description.is_empty() {
        res["description"] = json!(description);
    }
    res
}

fn map_of_strings(description: &str) -> Value {
    let mut res =
        json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}});
    if !description.is_empty() {
        res["description"] = json!(description);
    }
    res
}
