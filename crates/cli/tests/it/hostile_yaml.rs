//! Hostile YAML and JSON Patch bodies (deep nesting, alias bombs, doubling copies) sent through
//! the real server: each gets a 4xx `Status` naming the limit, the server keeps answering, its
//! memory stays small and the draft's Git branch does not move.

use serde_json::{Value, json};

use crate::util::{Server, empty_repo, git};

const MAX_RSS_KIB: u64 = 500 * 1024;

/// The server's process id: the process whose command line names this test's data directory.
fn server_pid(server: &Server) -> u32 {
    let data = server.dir.path().join("data");
    let needle = data.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(" serve ") && cmdline.contains(&needle) {
            return pid;
        }
    }
    panic!("no veranda process for {needle}");
}

/// (VmRSS, VmHWM) of a process in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn billion_laughs() -> String {
    let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    let names: Vec<char> = "abcdefghij".chars().collect();
    for pair in names.windows(2) {
        let items = vec![format!("*{}", pair[0]); 10].join(",");
        text.push_str(&format!("{}: &{} [{items}]\n", pair[1], pair[1]));
    }
    text
}

/// About 420 KB: one anchor of 70,000 scalars repeated by 70,000 aliases.
fn alias_fan_out() -> String {
    format!("a: &a [{}]\nb: [{}]\n", vec!["xy"; 70_000].join(","), vec!["*a"; 70_000].join(","))
}

fn block_sequences() -> String {
    "- ".repeat(50_000)
}

fn indented_sequences() -> String {
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&" ".repeat(i * 2));
        text.push_str("-\n");
    }
    text
}

fn flow_mappings() -> String {
    format!("{}x{}", "{a: ".repeat(3000), "}".repeat(3000))
}

/// A KRM resource whose field `x` holds `text`.
fn krm(text: &str) -> String {
    let mut out = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hostile\nx:\n");
    for line in text.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn doubling_copies() -> String {
    let mut ops = vec![json!({"op": "add", "path": "/metadata/annotations",
        "value": {"x": ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}})];
    for _ in 0..41 {
        ops.push(
            json!({"op": "copy", "from": "/metadata/annotations/x", "path": "/metadata/annotations/x/-"}),
        );
    }
    Value::Array(ops).to_string()
}

#[test]
fn hostile_yaml_and_patches_are_refused_within_bounded_memory() {
    let server = Server::start();
    let pid = server_pid(&server);
    let remote = empty_repo(server.dir.path(), "r.git");
    let manifest = format!(
        "apiVersion: config.porch.kpt.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: r\nspec:\n  git:\n    repo: {}\n    createBranch: true\n",
        remote.display()
    );
    server.kubectl_in(&["apply", "-f", "-"], Some(&manifest));
    let create = json!({"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
        "spec": {"repository": "r", "packageName": "p", "workspaceName": "ws"}});
    server.kubectl_in(&["create", "-f", "-"], Some(&create.to_string()));
    let refs_before = git(&remote, &["show-ref"]);
    let (rss_start, _) = rss_kib(pid);
    eprintln!("hostile_yaml: server RSS at start {} MiB", rss_start / 1024);

    let prs = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions";
    let prr_path =
        "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisionresources/r.p.ws";
    let mut peak = 0;
    let mut check =
        |what: &str, method: &str, path: &str, content_type: &str, body: &[u8], needle: &str| {
            let (first, status) = server.request(method, path, content_type, body, None);
            let code = first;
            assert!((400..500).contains(&code), "{what}: {code} {status}\n{}", server.log());
            assert_eq!(status["kind"], "Status", "{what}: {status}");
            assert_eq!(status["code"], code, "{what}: {status}");
            let message = status["message"].as_str().unwrap_or_default();
            assert!(message.contains(needle), "{what}: {message:?} does not name {needle:?}");
            // The server still answers.
            let (code, _) =
                server.request("GET", &format!("{prs}/r.p.ws"), "application/json", b"", None);
            assert_eq!(code, 200, "{what}: the server stopped answering\n{}", server.log());
            let (rss, hwm) = rss_kib(pid);
            peak = peak.max(hwm);
            eprintln!(
                "hostile_yaml: {what}: {first} -> RSS {} MiB, peak {} MiB",
                rss / 1024,
                hwm / 1024
            );
            assert!(hwm < MAX_RSS_KIB, "{what}: peak RSS {hwm} KiB");
            message.to_string()
        };

    const DEEP: &str = "nesting depth exceeds the limit of 100";
    const ALIASES: &str = "alias expansion exceeds the limit";
    let nested_flow = "[".repeat(3000);
    let documents: [(&str, String, &str); 6] = [
        ("3000 nested [", nested_flow.clone(), DEEP),
        ("nested block sequences", block_sequences(), DEEP),
        ("indented block sequences", indented_sequences(), DEEP),
        ("nested flow mappings", flow_mappings(), DEEP),
        ("billion laughs", billion_laughs(), ALIASES),
        ("alias fan-out", alias_fan_out(), ALIASES),
    ];

    // As package content: a file of a PackageRevisionResources PUT.
    for (what, text, needle) in &documents {
        let mut prr = server.get_json(&["packagerevisionresources", "r.p.ws"]);
        prr["spec"]["resources"]["hostile.yaml"] = json!(krm(text));
        let message = check(
            &format!("resources file: {what}"),
            "PUT",
            prr_path,
            "application/json",
            prr.to_string().as_bytes(),
            needle,
        );
        assert!(message.contains("hostile.yaml"), "{what}: {message:?} does not name the file");
    }
    // As `application/yaml` request bodies.
    for (what, text, needle) in &documents {
        let body = krm(text).replace("kind: ConfigMap", "kind: PackageRevision");
        let _ = check(
            &format!("yaml body: {what}"),
            "POST",
            prs,
            "application/yaml",
            body.as_bytes(),
            needle,
        );
    }
    // As a server-side apply patch.
    let apply =
        format!("apiVersion: porch.kpt.dev/v1alpha1\nkind: PackageRevision\n{}", billion_laughs());
    let _ = check(
        "apply patch: billion laughs",
        "PATCH",
        &format!("{prs}/r.p.ws"),
        "application/apply-patch+yaml",
        apply.as_bytes(),
        ALIASES,
    );

    // JSON Patch on a PackageRevision.
    let _ = check(
        "json patch: 41 doubling copies",
        "PATCH",
        &format!("{prs}/r.p.ws"),
        "application/json-patch+json",
        doubling_copies().as_bytes(),
        "larger than the limit of 6291456 bytes",
    );
    let op = json!({"op": "test", "path": "/kind", "value": "PackageRevision"});
    let ops = Value::Array(vec![op; 10_001]).to_string();
    let _ = check(
        "json patch: 10001 operations",
        "PATCH",
        &format!("{prs}/r.p.ws"),
        "application/json-patch+json",
        ops.as_bytes(),
        "exceed the limit of 10000",
    );
    let deep = format!(
        "[{{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":{}1{}}}]",
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let _ = check(
        "json patch: 3000 nested arrays",
        "PATCH",
        &format!("{prs}/r.p.ws"),
        "application/json-patch+json",
        deep.as_bytes(),
        "recursion limit exceeded",
    );
    let deep =
        format!("{{\"metadata\":{{\"annotations\":{}1{}}}}}", "[".repeat(3000), "]".repeat(3000));
    let _ = check(
        "merge patch: 3000 nested arrays",
        "PATCH",
        &format!("{prs}/r.p.ws"),
        "application/merge-patch+json",
        deep.as_bytes(),
        "recursion limit exceeded",
    );

    eprintln!(
        "hostile_yaml: peak server RSS {} MiB (limit {} MiB)",
        peak / 1024,
        MAX_RSS_KIB / 1024
    );
    assert_eq!(git(&remote, &["show-ref"]), refs_before, "hostile requests must not touch git");
}
