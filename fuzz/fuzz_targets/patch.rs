//! JSON, merge, strategic merge and apply patches of a PackageRevision-like object. The first
//! byte picks the patch type.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veranda_k8s::patch::{PatchType, apply_patch};

fuzz_target!(|data: &[u8]| {
    let Some((kind, body)) = data.split_first() else { return };
    let kind = match kind % 4 {
        0 => PatchType::Json,
        1 => PatchType::Merge,
        2 => PatchType::StrategicMerge,
        _ => PatchType::Apply,
    };
    let current = serde_json::json!({
        "apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "metadata": {"name": "r.p.ws", "namespace": "default", "labels": {"a": "b"}},
        "spec": {"repository": "r", "packageName": "p", "workspaceName": "ws",
                 "tasks": [{"type": "init", "init": {"description": "d"}}]},
    });
    let _ = apply_patch(kind, &current, body);
});
