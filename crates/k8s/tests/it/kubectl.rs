//! The real kubectl against the test server: discovery, server-side printing, explain,
//! validation (client side and server side), patches and errors.

use serde_json::{Value, json};

use crate::{server::Discovery, util::Kubectl};

const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// Realistic PackageRevisions using every spec field and every task type.
const PACKAGE_REVISIONS: &str = r#"apiVersion: porch.kpt.dev/v1alpha1
kind: PackageRevision
metadata:
  name: blueprints.apps.my-app.v1
  namespace: default
  labels:
    app: my-app
  annotations:
    porch.kpt.dev/push-on-render-failure: "true"
spec:
  packageName: apps/my-app
  repository: blueprints
  workspaceName: v1
  lifecycle: Draft
  readinessGates:
  - conditionType: nephio.org/Specializer.specialize
  packageMetadata:
    labels:
      team: platform
    annotations:
      owner: alice
  tasks:
  - type: clone
    clone:
      upstreamRef:
        type: git
        git:
          repo: https://github.com/nephio-project/catalog.git
          ref: main
          directory: workloads/free5gc
          secretRef:
            name: git-creds
---
apiVersion: porch.kpt.dev/v1alpha1
kind: PackageRevision
metadata:
  name: blueprints.basens.init
spec:
  packageName: basens
  repository: blueprints
  workspaceName: init
  tasks:
  - type: init
    init:
      description: base namespace
      keywords: [namespace, base]
      site: https://example.com/basens
      subpackage: ""
---
apiVersion: porch.kpt.dev/v1alpha1
kind: PackageRevision
metadata:
  name: deployments.basens.copy
spec:
  packageName: basens
  repository: deployments
  workspaceName: copy
  parent:
    name: blueprints.basens.v1
  tasks:
  - type: edit
    edit:
      sourceRef:
        name: deployments.basens.v1
---
apiVersion: porch.kpt.dev/v1alpha1
kind: PackageRevision
metadata:
  name: deployments.basens.upgrade
spec:
  packageName: basens
  repository: deployments
  workspaceName: upgrade
  tasks:
  - type: upgrade
    upgrade:
      oldUpstreamRef:
        name: blueprints.basens.v1
      newUpstreamRef:
        name: blueprints.basens.v2
      localPackageRevisionRef:
        name: deployments.basens.v1
      strategy: resource-merge
---
apiVersion: porch.kpt.dev/v1alpha1
kind: PackageRevision
metadata:
  name: deployments.edge.clone
spec:
  packageName: edge
  repository: deployments
  workspaceName: clone
  tasks:
  - type: clone
    clone:
      upstreamRef:
        upstreamRef:
          name: blueprints.basens.v1
"#;

/// Realistic Repositories (git and OCI) using every spec field.
const REPOSITORIES: &str = r#"apiVersion: config.porch.kpt.dev/v1alpha1
kind: Repository
metadata:
  name: blueprints
  namespace: default
spec:
  description: Blueprint packages
  type: git
  content: Package
  deployment: false
  sync:
    schedule: "*/10 * * * *"
    runOnceAt: "2025-01-01T00:00:00Z"
  git:
    repo: https://github.com/example/blueprints.git
    branch: main
    createBranch: true
    directory: packages
    secretRef:
      name: git-creds
    author: Porch
    email: porch@example.com
---
apiVersion: config.porch.kpt.dev/v1alpha1
kind: Repository
metadata:
  name: images
spec:
  type: oci
  deployment: true
  oci:
    registry: europe-docker.pkg.dev/project/repo
    secretRef:
      name: oci-creds
"#;

/// A `kind: List` with every served kind, validated by kubectl itself (lists never use
/// server-side field validation).
const LIST: &str = r##"apiVersion: v1
kind: List
items:
- apiVersion: porch.kpt.dev/v1alpha1
  kind: PackageRevision
  metadata:
    name: blueprints.basens.v1
    ownerReferences:
    - apiVersion: config.porch.kpt.dev/v1alpha1
      kind: Repository
      name: blueprints
      uid: 0a1b2c3d-0000-0000-0000-000000000000
      controller: true
    finalizers: [example.com/keep]
  spec:
    packageName: basens
    repository: blueprints
    workspaceName: v1
    revision: 1
    lifecycle: Published
    tasks:
    - type: init
      init:
        description: basens description
  status:
    publishedBy: alice
    publishTimestamp: "2025-01-01T00:00:00Z"
    deployment: false
    upstreamLock:
      type: git
      git: {repo: https://github.com/x/y.git, directory: basens, ref: main, commit: abc}
    selfLock:
      type: git
      git: {repo: https://github.com/x/z.git, directory: basens, ref: basens/v1, commit: def}
    conditions:
    - type: Ready
      status: "True"
      reason: Ready
      message: ok
- apiVersion: porch.kpt.dev/v1alpha1
  kind: PackageRevisionResources
  metadata:
    name: blueprints.basens.v1
  spec:
    packageName: basens
    workspaceName: v1
    repository: blueprints
    revision: 1
    resources:
      Kptfile: |
        apiVersion: kpt.dev/v1
        kind: Kptfile
        metadata:
          name: basens
      README.md: "# basens\n"
  status:
    renderStatus:
      error: ""
      result:
        apiVersion: kpt.dev/v1
        kind: FunctionResultList
        metadata:
          name: fnresults
        exitCode: 0
        items:
        - image: ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4
          exitCode: 0
          stderr: ""
          results:
          - message: namespace updated
            severity: info
            resourceRef: {apiVersion: v1, kind: ConfigMap, name: cm, namespace: ns}
            field: {path: metadata.namespace, currentValue: a, proposedValue: b}
            file: {path: cm.yaml, index: 0}
            tags: {a: b}
- apiVersion: porch.kpt.dev/v1alpha1
  kind: PorchPackage
  metadata:
    name: blueprints.basens
  spec:
    packageName: basens
    repository: blueprints
  status:
    latestRevision: 1
- apiVersion: config.porch.kpt.dev/v1alpha1
  kind: Repository
  metadata:
    name: blueprints
  spec:
    type: git
    git:
      repo: https://github.com/example/blueprints.git
  status:
    conditions:
    - type: Ready
      status: "True"
      reason: Ready
      message: Repository Ready
      lastTransitionTime: "2025-01-01T00:00:00Z"
      observedGeneration: 1
    lastFullSyncTime: "2025-01-01T00:00:00Z"
    nextFullSyncTime: "2025-01-01T00:10:00Z"
    observedGeneration: 1
    packageCount: 3
    gitCommitHash: abc
"##;

fn package_revision(name: &str, lifecycle: &str, revision: i64, latest: bool) -> Value {
    let mut res = json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {
            "name": name,
            "namespace": "default",
            "resourceVersion": "abc123",
            "uid": "45ee0692-730a-51b2-9a1d-ad4f4ad55dc8",
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "spec": {
            "packageName": "basens",
            "repository": "blueprints",
            "workspaceName": name.rsplit('.').next().unwrap_or(""),
            "revision": revision,
            "lifecycle": lifecycle,
            "tasks": [{"type": "init", "init": {"description": "basens description"}}],
        },
        "status": {"upstreamLock": {}, "publishTimestamp": null},
    });
    if latest {
        res["metadata"]["labels"] = json!({"kpt.dev/latest-revision": "true"});
    }
    res
}

fn repository(name: &str, ready: Option<&str>) -> Value {
    let mut res = json!({
        "apiVersion": "config.porch.kpt.dev/v1alpha1",
        "kind": "Repository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "git",
            "content": "Package",
            "git": {"repo": format!("https://github.com/example/{name}.git"), "branch": "main"},
        },
    });
    if let Some(ready) = ready {
        res["status"] = json!({"conditions": [{
            "type": "Ready",
            "status": ready,
            "reason": "Ready",
            "message": "Repository Ready",
            "lastTransitionTime": "2025-01-01T00:00:00Z",
        }]});
    }
    res
}

fn canned() -> Vec<Value> {
    vec![
        package_revision("blueprints.basens.v1", "Published", 1, false),
        package_revision("blueprints.basens.v2", "Published", 2, true),
        package_revision("blueprints.basens.draft", "Draft", 0, false),
        repository("blueprints", Some("True")),
        repository("deployments", None),
    ]
}

#[test]
fn get_prints_the_server_side_table() {
    let kubectl = Kubectl::start(canned());
    let output = kubectl.ok(&["get", "packagerevisions"]);
    assert_eq!(
        output.stdout,
        "\
NAME                      PACKAGE   WORKSPACENAME   REVISION   LATEST   LIFECYCLE   REPOSITORY
blueprints.basens.draft   basens    draft           0          false    Draft       blueprints
blueprints.basens.v1      basens    v1              1          false    Published   blueprints
blueprints.basens.v2      basens    v2              2          true     Published   blueprints
"
    );
    let requests = kubectl.server.requests();
    let list = requests
        .iter()
        .find(|it| it.path() == "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions")
        .unwrap_or_else(|| panic!("no list request:\n{}", kubectl.server.summary()));
    assert_eq!(list.header("accept"), TABLE_ACCEPT);
    assert_eq!(list.query("limit").as_deref(), Some("500"));
    assert_eq!(list.query("includeObject"), None);
}

#[test]
fn get_single_object_wide_labels_and_sort() {
    let kubectl = Kubectl::start(canned());
    let output = kubectl.ok(&["get", "packagerevision", "blueprints.basens.v2"]);
    assert_eq!(
        output.stdout,
        "\
NAME                   PACKAGE   WORKSPACENAME   REVISION   LATEST   LIFECYCLE   REPOSITORY
blueprints.basens.v2   basens    v2              2          true     Published   blueprints
"
    );

    // `--show-labels` reads labels from the rows' PartialObjectMetadata; `--sort-by` asks for
    // whole objects with `includeObject=Object`.
    let before = kubectl.server.requests().len();
    let output = kubectl.ok(&[
        "get",
        "packagerevisions",
        "-o",
        "wide",
        "--show-labels",
        "--sort-by=.spec.revision",
    ]);
    assert_eq!(
        output.stdout,
        "\
NAME                      PACKAGE   WORKSPACENAME   REVISION   LATEST   LIFECYCLE   REPOSITORY   LABELS
blueprints.basens.draft   basens    draft           0          false    Draft       blueprints   <none>
blueprints.basens.v1      basens    v1              1          false    Published   blueprints   <none>
blueprints.basens.v2      basens    v2              2          true     Published   blueprints   kpt.dev/latest-revision=true
"
    );
    let requests = kubectl.requests_since(before);
    let list = requests.last().expect("a list request");
    assert_eq!(list.query("includeObject").as_deref(), Some("Object"));
}

#[test]
fn get_several_kinds_prefixes_names_and_prints_repositories() {
    let kubectl = Kubectl::start(canned());
    let output = kubectl.ok(&["get", "repo"]);
    assert_eq!(
        output.stdout,
        "\
NAME          TYPE   CONTENT   DEPLOYMENT   READY   ADDRESS                                      BRANCH   SYNC SCHEDULE   AGE
blueprints    git    Package                True    https://github.com/example/blueprints.git    main                     
deployments   git    Package                        https://github.com/example/deployments.git   main                     
"
    );
    let output =
        kubectl.ok(&["get", "packagerevisions,repositories", "-l", "kpt.dev/latest-revision"]);
    assert!(
        output.stdout.contains("packagerevision.porch.kpt.dev/blueprints.basens.v2")
            && output.stdout.contains("repository.config.porch.kpt.dev/blueprints"),
        "{}",
        output.stdout
    );
}

#[test]
fn get_json_returns_the_objects() {
    let kubectl = Kubectl::start(canned());
    let output = kubectl.ok(&["get", "packagerevision", "blueprints.basens.v2", "-o", "json"]);
    let object: Value = serde_json::from_str(&output.stdout).expect("kubectl prints JSON");
    assert_eq!(object, package_revision("blueprints.basens.v2", "Published", 2, true));

    let output = kubectl.ok(&["get", "packagerevisions", "-o", "json"]);
    let list: Value = serde_json::from_str(&output.stdout).expect("kubectl prints JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));
    let accepts: Vec<String> =
        kubectl.server.requests().iter().map(|it| it.header("accept")).collect();
    assert!(accepts.contains(&"application/json".to_owned()), "{accepts:?}");
}

#[test]
fn get_missing_object_prints_the_status_message() {
    let kubectl = Kubectl::start(canned());
    let output = kubectl.fails(&["get", "packagerevision", "nope"]);
    assert_eq!(
        output.stderr,
        "Error from server (NotFound): packagerevisions.porch.kpt.dev \"nope\" not found\n"
    );
}

#[test]
fn api_resources_lists_every_resource() {
    let kubectl = Kubectl::start(Vec::new());
    let output = kubectl.ok(&["api-resources"]);
    assert_eq!(
        output.stdout,
        "\
NAME                       SHORTNAMES   APIVERSION                      NAMESPACED   KIND
secrets                                 v1                              true         Secret
selfsubjectreviews                      authentication.k8s.io/v1        false        SelfSubjectReview
selfsubjectaccessreviews                authorization.k8s.io/v1         false        SelfSubjectAccessReview
selfsubjectrulesreviews                 authorization.k8s.io/v1         false        SelfSubjectRulesReview
subjectaccessreviews                    authorization.k8s.io/v1         false        SubjectAccessReview
repositories               repo         config.porch.kpt.dev/v1alpha1   true         Repository
packagerevisionresources                porch.kpt.dev/v1alpha1          true         PackageRevisionResources
packagerevisions                        porch.kpt.dev/v1alpha1          true         PackageRevision
packages                                porch.kpt.dev/v1alpha1          true         PorchPackage
clusterrolebindings                     rbac.authorization.k8s.io/v1    false        ClusterRoleBinding
clusterroles                            rbac.authorization.k8s.io/v1    false        ClusterRole
rolebindings                            rbac.authorization.k8s.io/v1    true         RoleBinding
roles                                   rbac.authorization.k8s.io/v1    true         Role
"
    );
    let output = kubectl.ok(&["api-resources", "-o", "wide", "--api-group=porch.kpt.dev"]);
    assert!(
        output.stdout.contains("   create,delete,get,list,patch,update,watch"),
        "{}",
        output.stdout
    );
}

#[test]
fn discovery_is_aggregated() {
    let kubectl = Kubectl::start(canned());
    kubectl.ok(&["get", "packagerevisions"]);
    let paths: Vec<String> =
        kubectl.server.requests().iter().map(|it| it.path().to_owned()).collect();
    assert_eq!(
        paths,
        [
            "/version",
            "/api",
            "/apis",
            "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions",
        ],
        "kubectl should need only /api and /apis"
    );
    let apis = &kubectl.server.requests()[2];
    assert_eq!(
        apis.header("accept"),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    );

    // The core group `v1` serves `secrets`, so client-go caches discovery on disk and the next
    // run asks for neither `/api` nor `/apis`.
    let before = kubectl.server.requests().len();
    kubectl.ok(&["get", "repositories"]);
    let paths: Vec<String> =
        kubectl.requests_since(before).iter().map(|it| it.path().to_owned()).collect();
    assert_eq!(
        paths,
        ["/version", "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"]
    );
}

#[test]
fn legacy_discovery_works_too() {
    let kubectl = Kubectl::start_with(canned(), Discovery::LegacyOnly);
    let output = kubectl.ok(&["get", "repo", "blueprints", "-o", "name"]);
    assert_eq!(output.stdout, "repository.config.porch.kpt.dev/blueprints\n");
    let paths: Vec<String> =
        kubectl.server.requests().iter().map(|it| it.path().to_owned()).collect();
    for expected in [
        "/api",
        "/apis",
        "/api/v1",
        "/apis/porch.kpt.dev/v1alpha1",
        "/apis/config.porch.kpt.dev/v1alpha1",
    ] {
        assert!(paths.iter().any(|it| it == expected), "{expected} not requested: {paths:?}");
    }
}

#[test]
fn explain_uses_openapi_v3() {
    let kubectl = Kubectl::start(Vec::new());
    let output = kubectl.ok(&["explain", "packagerevisions.spec"]);
    for expected in [
        "GROUP:      porch.kpt.dev\nKIND:       PackageRevision\nVERSION:    v1alpha1\n",
        "FIELD: spec <PackageRevisionSpec>",
        "  lifecycle\t<string>\n  enum: Draft, Proposed, Published, DeletionProposed\n",
        "  packageMetadata\t<PackageMetadata>",
        "  tasks\t<[]Task>",
        "  revision\t<integer>",
    ] {
        assert!(output.stdout.contains(expected), "missing {expected:?} in\n{}", output.stdout);
    }
    let output = kubectl.ok(&["explain", "repositories.spec.git", "--recursive"]);
    for expected in
        ["KIND:       Repository", "  repo\t<string> -required-", "  secretRef\t<SecretRef>"]
    {
        assert!(output.stdout.contains(expected), "missing {expected:?} in\n{}", output.stdout);
    }
    // The Swagger 2.0 document (protobuf) serves the older explain output.
    let output =
        kubectl.ok(&["explain", "packagerevisions.spec.tasks", "--output=plaintext-openapiv2"]);
    for expected in
        ["KIND:     PackageRevision", "RESOURCE: tasks <[]Object>", "   type\t<string> -required-"]
    {
        assert!(output.stdout.contains(expected), "missing {expected:?} in\n{}", output.stdout);
    }
    let output = kubectl
        .ok(&["explain", "packagerevisionresources.status.renderStatus.result.items.results"]);
    assert!(output.stdout.contains("FIELD: results <[]ResultItem>"), "{}", output.stdout);
    let requests = kubectl.server.requests();
    let document = requests
        .iter()
        .find(|it| it.path() == "/openapi/v3/apis/porch.kpt.dev/v1alpha1")
        .unwrap_or_else(|| panic!("no v3 group document request:\n{}", kubectl.server.summary()));
    assert!(document.query("hash").is_some_and(|it| !it.is_empty()));
}

#[test]
fn realistic_manifests_pass_validation() {
    let kubectl = Kubectl::start(Vec::new());
    let prs = kubectl.write_file("prs.yaml", PACKAGE_REVISIONS);
    let repos = kubectl.write_file("repos.yaml", REPOSITORIES);
    let list = kubectl.write_file("list.yaml", LIST);
    let [prs, repos, list] =
        [&prs, &repos, &list].map(|it| it.to_str().expect("UTF-8 path").to_owned());

    let output = kubectl.ok(&["create", "--dry-run=client", "-f", &prs, "-f", &repos]);
    assert_eq!(output.stdout.matches("created (dry run)").count(), 7, "{}", output.stdout);
    let output = kubectl.ok(&["apply", "--dry-run=client", "-f", &prs, "-f", &repos]);
    assert_eq!(output.stdout.matches("created (dry run)").count(), 7, "{}", output.stdout);

    // The server validates (fieldValidation=Strict) on create and server-side apply.
    let before = kubectl.server.requests().len();
    let output = kubectl.ok(&["create", "--dry-run=server", "-f", &prs, "-f", &repos]);
    assert_eq!(output.stdout.matches("created (server dry run)").count(), 7, "{}", output.stdout);
    let posts: Vec<_> =
        kubectl.requests_since(before).into_iter().filter(|it| it.method == "POST").collect();
    assert_eq!(posts.len(), 7);
    for post in &posts {
        assert_eq!(post.query("fieldValidation").as_deref(), Some("Strict"), "{}", post.target);
        assert_eq!(post.query("dryRun").as_deref(), Some("All"), "{}", post.target);
    }
    let output =
        kubectl.ok(&["apply", "--server-side", "--dry-run=server", "-f", &prs, "-f", &repos]);
    assert_eq!(
        output.stdout.matches("serverside-applied (server dry run)").count(),
        7,
        "{}",
        output.stdout
    );

    // kubectl validates list items itself, against /openapi/v2 (protobuf).
    let before = kubectl.server.requests().len();
    let output = kubectl.ok(&["create", "--dry-run=client", "-f", &list]);
    assert_eq!(output.stdout.matches("created (dry run)").count(), 4, "{}", output.stdout);
    let v2 = kubectl
        .requests_since(before)
        .into_iter()
        .find(|it| it.path() == "/openapi/v2")
        .unwrap_or_else(|| panic!("no /openapi/v2 request:\n{}", kubectl.server.summary()));
    assert_eq!(v2.header("accept"), "application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
}

#[test]
fn unknown_fields_are_rejected_by_the_server_for_patchable_kinds() {
    let kubectl = Kubectl::start(Vec::new());
    let bad = kubectl.write_file(
        "bad.yaml",
        "apiVersion: porch.kpt.dev/v1alpha1
kind: PackageRevision
metadata:
  name: blueprints.basens.ws
spec:
  packageName: basens
  repository: blueprints
  workspaceName: ws
  tasks:
  - type: init
    init:
      descripton: typo
  foo: bar
",
    );
    let bad = bad.to_str().expect("UTF-8 path");
    let message = "PackageRevision in version \"v1alpha1\" cannot be handled as a PackageRevision: strict decoding error: unknown field \"spec.foo\", unknown field \"spec.tasks[0].init.descripton\"";

    let output = kubectl.fails(&["create", "-f", bad]);
    assert_eq!(
        output.stderr,
        format!("Error from server (BadRequest): error when creating \"{bad}\": {message}\n")
    );
    let output = kubectl.fails(&["apply", "--server-side", "--dry-run=server", "-f", bad]);
    assert!(output.stderr.contains(message), "{}", output.stderr);

    // kubectl leaves validation of these kinds to the server, which is what the kube-apiserver
    // and Porch advertise too: the OpenAPI PATCH operation declares `fieldValidation`. So a
    // client-side dry run does not see the unknown field.
    let output = kubectl.ok(&["create", "--dry-run=client", "-f", bad]);
    assert_eq!(
        output.stdout,
        "packagerevision.porch.kpt.dev/blueprints.basens.ws created (dry run)\n"
    );
    assert!(
        !kubectl.server.requests().iter().any(|it| it.path() == "/openapi/v2"),
        "kubectl should not need /openapi/v2 for PackageRevisions:\n{}",
        kubectl.server.summary()
    );
}

#[test]
fn unknown_fields_are_rejected_by_kubectl_for_lists_and_packages() {
    let kubectl = Kubectl::start(Vec::new());
    let package = kubectl.write_file(
        "package.yaml",
        "apiVersion: porch.kpt.dev/v1alpha1
kind: PorchPackage
metadata:
  name: blueprints.basens
spec:
  packageName: basens
  repository: blueprints
  latestRevision: 3
",
    );
    let package = package.to_str().expect("UTF-8 path");
    let output = kubectl.fails(&["create", "--dry-run=client", "-f", package]);
    assert_eq!(
        output.stderr,
        format!(
            "error: error validating \"{package}\": error validating data: ValidationError(PorchPackage.spec): unknown field \"latestRevision\" in com.github.nephio-project.porch.api.porch.v1alpha1.PackageSpec; if you choose to ignore these errors, turn validation off with --validate=false\n"
        )
    );

    let list = kubectl.write_file(
        "list.yaml",
        &LIST.replace(
            "      repo: https://github.com/example/blueprints.git\n",
            "      repo: https://github.com/example/blueprints.git\n      bogus: 1\n",
        ),
    );
    let list = list.to_str().expect("UTF-8 path");
    let output = kubectl.fails(&["apply", "--dry-run=client", "-f", list]);
    assert!(
        output.stderr.contains(
            "ValidationError(Repository.spec.git): unknown field \"bogus\" in dev.kpt.porch.config.v1alpha1.GitRepository"
        ),
        "{}",
        output.stderr
    );
}

#[test]
fn client_side_apply_label_and_patch_send_merge_patches() {
    let kubectl = Kubectl::start(canned());
    let manifest = kubectl.write_file(
        "existing.yaml",
        "apiVersion: porch.kpt.dev/v1alpha1
kind: PackageRevision
metadata:
  name: blueprints.basens.draft
spec:
  packageName: basens
  repository: blueprints
  workspaceName: draft
  lifecycle: Proposed
",
    );
    let manifest = manifest.to_str().expect("UTF-8 path");
    let before = kubectl.server.requests().len();
    let output = kubectl.ok(&["apply", "-f", manifest]);
    assert_eq!(output.stdout, "packagerevision.porch.kpt.dev/blueprints.basens.draft configured\n");
    let patch = kubectl
        .requests_since(before)
        .into_iter()
        .find(|it| it.method == "PATCH")
        .unwrap_or_else(|| panic!("no PATCH:\n{}", kubectl.server.summary()));
    assert_eq!(patch.header("content-type"), "application/merge-patch+json");
    assert_eq!(patch.query("fieldValidation").as_deref(), Some("Strict"));
    let output = kubectl.ok(&["apply", "-f", manifest]);
    assert_eq!(output.stdout, "packagerevision.porch.kpt.dev/blueprints.basens.draft unchanged\n");

    kubectl.ok(&["label", "packagerevision", "blueprints.basens.draft", "team=a"]);
    let label = kubectl
        .server
        .requests()
        .into_iter()
        .rev()
        .find(|it| it.method == "PATCH")
        .expect("a PATCH");
    assert_eq!(label.header("content-type"), "application/merge-patch+json");
    assert_eq!(String::from_utf8_lossy(&label.body), r#"{"metadata":{"labels":{"team":"a"}}}"#);

    // `kubectl patch` defaults to a strategic merge patch, which the server applies as a merge
    // patch.
    kubectl.ok(&[
        "patch",
        "packagerevision",
        "blueprints.basens.draft",
        "-p",
        r#"{"spec":{"lifecycle":"Draft"}}"#,
    ]);
    let patch = kubectl
        .server
        .requests()
        .into_iter()
        .rev()
        .find(|it| it.method == "PATCH")
        .expect("a PATCH");
    assert_eq!(patch.header("content-type"), "application/strategic-merge-patch+json");

    let output = kubectl.ok(&["get", "packagerevision", "blueprints.basens.draft", "-o", "json"]);
    let object: Value = serde_json::from_str(&output.stdout).expect("kubectl prints JSON");
    assert_eq!(object["spec"]["lifecycle"], "Draft");
    assert_eq!(object["metadata"]["labels"]["team"], "a");
    assert!(
        object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    let output = kubectl.fails(&[
        "patch",
        "packagerevision",
        "blueprints.basens.draft",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/revision","value":7}]"#,
    ]);
    assert_eq!(
        output.stderr,
        "The request is invalid: operation '/0' failed at path '/spec/revision': value did not match\n"
    );
}

#[test]
fn kubectl_sends_no_credentials_to_an_http_server() {
    // client-go reads the kubeconfig's token only for TLS transports
    // (`tools/clientcmd/client_config.go`), so a veranda server must serve HTTPS for bearer
    // tokens to reach it. The gcloud kubectl dispatcher also probes `/version` without them.
    let kubectl = Kubectl::start(canned());
    kubectl.ok(&["get", "packagerevisions"]);
    let requests = kubectl.server.requests();
    assert!(requests.iter().all(|it| it.header("authorization").is_empty()), "{:?}", requests);
}

#[test]
fn version_reports_kubernetes_1_32() {
    let kubectl = Kubectl::start(Vec::new());
    let output = kubectl.ok(&["version", "-o", "json"]);
    let version: Value = serde_json::from_str(&output.stdout).expect("kubectl prints JSON");
    assert_eq!(version["serverVersion"]["major"], "1");
    assert_eq!(version["serverVersion"]["minor"], "32");
    assert!(
        version["serverVersion"]["gitVersion"]
            .as_str()
            .is_some_and(|it| it.starts_with("v1.32.0+veranda")),
        "{version}"
    );
}
