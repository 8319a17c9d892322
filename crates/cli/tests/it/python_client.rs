//! The Python Kubernetes client (`kubernetes` on PyPI) lists and creates through veranda.
//!
//! The interpreter is `$VERANDA_PYTHON` (`.ci/run` points it at its own virtual environment),
//! else `python3` if it has the client, else `target/test-venv`, which the test makes on first
//! use (see `python_venv.rs`).

use std::process::Command;

use crate::{
    python_venv::python_with,
    util::{Server, empty_repo},
};

const SCRIPT: &str = r#"
import sys
from kubernetes import client, config

config.load_kube_config(config_file=sys.argv[1])
api = client.CustomObjectsApi()
repos = api.list_namespaced_custom_object("config.porch.kpt.dev", "v1alpha1", "default", "repositories")
assert [r["metadata"]["name"] for r in repos["items"]] == ["py"], repos
body = {
    "apiVersion": "porch.kpt.dev/v1alpha1",
    "kind": "PackageRevision",
    "metadata": {"namespace": "default"},
    "spec": {"packageName": "from-python", "repository": "py", "workspaceName": "w1",
             "tasks": [{"type": "init", "init": {"description": "made by the python client"}}]},
}
created = api.create_namespaced_custom_object("porch.kpt.dev", "v1alpha1", "default", "packagerevisions", body)
assert created["metadata"]["name"] == "py.from-python.w1", created
prs = api.list_namespaced_custom_object("porch.kpt.dev", "v1alpha1", "default", "packagerevisions",
                                        field_selector="spec.repository=py")
print(" ".join(sorted(p["metadata"]["name"] for p in prs["items"])))
try:
    api.get_namespaced_custom_object("porch.kpt.dev", "v1alpha1", "default", "packagerevisions", "py.nope.w1")
    raise SystemExit("expected 404")
except client.exceptions.ApiException as e:
    assert e.status == 404, e
"#;

#[test]
fn python_client_lists_and_creates() {
    let server = Server::start();
    let repo = empty_repo(server.dir.path(), "py.git");
    let manifest = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: py\nspec:\n  git:\n    repo: {}\n    createBranch: true\n",
        repo.display()
    );
    server.kubectl_in(&["apply", "-f", "-"], Some(&manifest));
    let python = python_with("import kubernetes, yaml");
    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&server.kubeconfig)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "python client failed ({}):\n{}\n{}",
        python.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "py.from-python.w1");
}
