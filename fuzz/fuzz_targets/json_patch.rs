//! Every patch type against a small PackageRevision, and the bounded YAML decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veranda_k8s::patch::{PatchType, apply_patch};

fuzz_target!(|data: &[u8]| {
    let current = serde_json::json!({
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"name": "r.p.ws", "annotations": {"a": "b"}},
        "spec": {"tasks": [{"type": "init"}]},
    });
    for kind in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge, PatchType::Apply] {
        let _ = apply_patch(kind, &current, data);
    }
    let _ = veranda_k8s::yaml::from_slice(data);
});
