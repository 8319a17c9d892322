//! A package as one `ResourceList` and back, as porchctl's `rpkg pull` (to stdout) and
//! `rpkg push -` (from stdin) exchange it: kyaml's `ByteReader` with the path annotation set
//! per file and `ByteWriter` wrapping the items, kept reader annotations, sorted by path.

use crate::kio::{self, Files, INDEX, LEGACY_PATH, PATH, ReadOptions, SEQ_INDENT};

/// Whether porchctl puts a file in the list: `*.yaml`, `*.yml`, `*.json`, `Kptfile` and
/// `.KptRevisionMetadata` (by base name).
pub fn is_listed(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base == "Kptfile"
        || base == ".KptRevisionMetadata"
        || [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| base.len() > ext.len() && base.ends_with(ext))
}

/// Encodes the listed files of a package as a `ResourceList`.
pub fn encode(files: &Files) -> Result<String, String> {
    let mut items = Vec::new();
    for (path, content) in files.iter().filter(|(p, _)| is_listed(p)) {
        let text = std::str::from_utf8(content).map_err(|_| format!("{path}: not UTF-8"))?;
        let options = ReadOptions {
            annotations: vec![(LEGACY_PATH, path.clone()), (PATH, path.clone())],
            reader_annotations: true,
            unwrap: false,
        };
        let (mut nodes, _) =
            kio::read_stream(text, &options).map_err(|e| format!("{path}: {e}"))?;
        for node in &mut nodes {
            node.clear_annotation(SEQ_INDENT);
        }
        items.extend(nodes);
    }
    items.sort_by(|a, b| {
        let key = |n: &crate::yaml::Node| {
            let index = n.annotation(INDEX).and_then(|i| i.parse::<i64>().ok()).unwrap_or(0);
            (n.annotation(PATH).unwrap_or("").to_string(), index)
        };
        key(a).cmp(&key(b))
    });
    kio::encode_resource_list(&items, None).map_err(|e| e.to_string())
}

/// Decodes a `ResourceList` (or a stream of resources) into files by their path annotations
/// (`namespace/name.yaml` for a resource without one).
pub fn decode(text: &str) -> Result<Files, String> {
    let options = ReadOptions { annotations: Vec::new(), reader_annotations: false, unwrap: true };
    let (nodes, _) = kio::read_stream(text, &options)?;
    kio::write_files(nodes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_package() {
        let mut files = Files::new();
        files.insert(
            "Kptfile".into(),
            b"apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n".to_vec(),
        );
        files.insert(
            "a/cm.yaml".into(),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # keep\ndata:\n  k: v\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n".to_vec(),
        );
        files.insert("README.md".into(), b"# not listed\n".to_vec());
        let list = encode(&files).expect("encode");
        assert!(
            list.starts_with("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"),
            "{list}"
        );
        assert!(list.contains("config.kubernetes.io/path: 'a/cm.yaml'"), "{list}");
        assert!(list.contains("internal.config.kubernetes.io/index: '1'"), "{list}");
        assert!(!list.contains("seqindent"), "{list}");
        assert!(!list.contains("README"), "{list}");
        let back = decode(&list).expect("decode");
        assert_eq!(back.get("Kptfile"), files.get("Kptfile"));
        assert_eq!(back.get("a/cm.yaml"), files.get("a/cm.yaml"));
        assert!(decode("apiVersion: v1\nkind: ResourceList\nitems:\n- 1\n").is_err());
    }
}
