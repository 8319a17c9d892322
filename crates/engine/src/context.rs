//! The package context (`package-context.yaml`, porch.md §5.2) generated when a package is cloned
//! into a deployment repository, as kpt's `builtins/gen-pkg-context` does.

use veranda_kpt::Files;

/// Name of the generated file.
pub(crate) const PACKAGE_CONTEXT: &str = "package-context.yaml";

/// Replaces the package context ConfigMap of the root package with one naming the package.
pub(crate) fn generate(files: &mut Files, kptfile_name: &str, package_path: &str) {
    // Any existing `ConfigMap kptfile.kpt.dev` at the root is dropped (kpt keeps one per package).
    let existing: Vec<String> = files
        .iter()
        .filter(|(path, content)| !path.contains('/') && is_context(content))
        .map(|(path, _)| path.clone())
        .collect();
    for path in existing {
        files.remove(&path);
    }
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ndata:\n",
    );
    text.push_str(&format!("  name: {}\n", quote(kptfile_name)));
    if !package_path.is_empty() {
        text.push_str(&format!("  package-path: {}\n", quote(package_path)));
    }
    files.insert(PACKAGE_CONTEXT.to_string(), text.into_bytes());
}

fn is_context(content: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(content) else { return false };
    text.contains("kptfile.kpt.dev")
        && text.split("\n---").count() == 1
        && text.lines().any(|l| l.trim() == "kind: ConfigMap")
        && text.lines().any(|l| l.trim() == "name: kptfile.kpt.dev")
}

/// Names and paths are DNS labels joined by `/`: plain scalars are safe, but quote anything else.
fn quote(value: &str) -> String {
    if value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '/' || c == '.')
        && value.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    {
        value.to_string()
    } else {
        serde_json::to_string(value).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_root_context_only() {
        let mut files = Files::from([
            ("Kptfile".to_string(), b"kind: Kptfile\n".to_vec()),
            (
                "package-context.yaml".to_string(),
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\ndata:\n  name: example\n".to_vec(),
            ),
            (
                "sub/package-context.yaml".to_string(),
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\ndata:\n  name: sub\n".to_vec(),
            ),
        ]);
        generate(&mut files, "istions-deployment", "istions-deployment");
        let text = String::from_utf8(files["package-context.yaml"].clone()).unwrap();
        assert!(
            text.contains("  name: istions-deployment\n  package-path: istions-deployment\n"),
            "{text}"
        );
        assert!(files["sub/package-context.yaml"].ends_with(b"name: sub\n"));
    }
}
