//! Upgrade benchmark: our resource-merge against `kpt pkg update --strategy resource-merge` on
//! the same inputs, for a generated 50-resource package and for cert-manager-basic (~400 KB of
//! CRDs). Prints the median time per upgrade of each and the ratio.
//!
//! Run with `cargo bench -p veranda-kpt --bench upgrade` (needs `git` and `kpt` on PATH).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use veranda_kpt::{Files, Strategy, upgrade};

fn main() {
    let shared = match std::env::var_os("VERANDA_SHARED") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let cert_manager =
        shared.join("testdata/packages/kptdev-kpt/package-examples/cert-manager-basic");
    let cases = [
        ("50 resources", fifty_resources()),
        ("cert-manager-basic", cert_manager_triple(&cert_manager)),
    ];
    println!("{:<20} {:>8} {:>14} {:>14} {:>8}", "package", "files", "veranda", "kpt", "ratio");
    if std::env::var_os("BENCH_BREAKDOWN").is_some() {
        breakdown(&cases[1].1.0);
    }
    for (name, (original, updated, local)) in cases {
        let ours = median(30, || {
            let start = Instant::now();
            let out =
                upgrade(Strategy::ResourceMerge, &original, &updated, &local).expect("upgrade");
            std::hint::black_box(out);
            start.elapsed()
        });
        let theirs = kpt_median(5, &original, &updated, &local);
        println!(
            "{name:<20} {:>8} {:>11.2} ms {:>11.1} ms {:>7.0}x",
            local.len(),
            ours.as_secs_f64() * 1e3,
            theirs.as_secs_f64() * 1e3,
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
}

fn median(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..n).map(|_| f()).collect();
    times.sort();
    times[n / 2]
}

fn fifty_resources() -> (Files, Files, Files) {
    let kptfile = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n";
    let deployment = |i: usize, image: &str, replicas: u32| {
        format!(
            "# resource {i}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels:\n    app: app-{i}\nspec:\n  replicas: {replicas} # kpt-set: ${{replicas}}\n  template:\n    spec:\n      containers:\n        - name: main\n          image: \"{image}\"\n          env:\n            - name: MODE\n              value: prod\n          ports:\n            - containerPort: 8080\n"
        )
    };
    let config_map = |i: usize, v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-{i}\ndata:\n  key: \"{v}\"\n"
        )
    };
    let mut original = Files::from([("Kptfile".to_string(), kptfile.as_bytes().to_vec())]);
    for i in 0..25 {
        original.insert(format!("deploy-{i}.yaml"), deployment(i, "nginx:1.0", 1).into_bytes());
        original.insert(format!("cm-{i}.yaml"), config_map(i, "v1").into_bytes());
    }
    let mut updated = original.clone();
    let mut local = original.clone();
    for i in 0..25 {
        if i % 2 == 0 {
            updated.insert(format!("deploy-{i}.yaml"), deployment(i, "nginx:2.0", 1).into_bytes());
        }
        if i % 3 == 0 {
            local.insert(format!("deploy-{i}.yaml"), deployment(i, "nginx:1.0", 3).into_bytes());
            local.insert(format!("cm-{i}.yaml"), config_map(i, "local").into_bytes());
        }
    }
    updated.insert("cm-new.yaml".into(), config_map(99, "new").into_bytes());
    updated.remove("cm-24.yaml");
    local.insert("local.yaml".into(), config_map(100, "mine").into_bytes());
    (original, updated, local)
}

fn cert_manager_triple(dir: &Path) -> (Files, Files, Files) {
    let original = read_dir(dir);
    let edit = |files: &Files, from: &str, to: &str| -> Files {
        files
            .iter()
            .map(|(p, c)| {
                let text = String::from_utf8_lossy(c);
                (
                    p.clone(),
                    if text.contains(from) {
                        text.replacen(from, to, 1).into_bytes()
                    } else {
                        c.clone()
                    },
                )
            })
            .collect()
    };
    let updated = edit(&original, "replicas: 1", "replicas: 2");
    let updated = edit(&updated, "description: ", "description: (v2) ");
    let local = edit(&original, "namespace: cert-manager", "namespace: certs");
    (original, updated, local)
}

fn read_dir(dir: &Path) -> Files {
    let mut files = Files::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read package").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel =
                    path.strip_prefix(dir).expect("under dir").to_string_lossy().replace('\\', "/");
                files.insert(rel, std::fs::read(&path).expect("read file"));
            }
        }
    }
    files
}

fn write_dir(dir: &Path, files: &Files) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("clean");
    }
    for (path, content) in files {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, content).expect("write");
    }
}

fn sh(dir: &Path, home: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .expect("git and kpt must be installed");
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Median wall time of `kpt pkg update` alone; the repositories are prepared once and the
/// downstream is reset before every run.
fn kpt_median(n: usize, original: &Files, updated: &Files, local: &Files) -> Duration {
    let tmp = std::env::temp_dir().join(format!("veranda-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (home, up, down): (PathBuf, PathBuf, PathBuf) =
        (tmp.join("home"), tmp.join("up"), tmp.join("down"));
    for d in [&home, &up, &down] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    sh(&up, &home, "git", &["-c", "init.defaultBranch=main", "init", "-q"]);
    write_dir(&up.join("pkg"), original);
    sh(&up, &home, "git", &["add", "-A"]);
    sh(&up, &home, "git", &["commit", "-q", "-m", "v1"]);
    sh(&up, &home, "git", &["tag", "v1"]);
    write_dir(&up.join("pkg"), updated);
    sh(&up, &home, "git", &["add", "-A"]);
    sh(&up, &home, "git", &["commit", "-q", "-m", "v2"]);
    sh(&up, &home, "git", &["tag", "v2"]);
    sh(&down, &home, "git", &["-c", "init.defaultBranch=main", "init", "-q"]);
    sh(&down, &home, "git", &["commit", "-q", "--allow-empty", "-m", "init"]);
    let source = format!("{}.git/pkg@v1", up.display());
    sh(&down, &home, "kpt", &["pkg", "get", &source, "pkg"]);
    let kptfile = std::fs::read(down.join("pkg/Kptfile")).expect("Kptfile");
    let mut local = local.clone();
    local.insert("Kptfile".into(), kptfile);
    write_dir(&down.join("pkg"), &local);
    sh(&down, &home, "git", &["add", "-A"]);
    sh(&down, &home, "git", &["commit", "-q", "-m", "local"]);
    let result = median(n, || {
        sh(&down, &home, "git", &["reset", "-q", "--hard", "HEAD"]);
        sh(&down, &home, "git", &["clean", "-q", "-fdx"]);
        let start = Instant::now();
        sh(&down, &home, "kpt", &["pkg", "update", "pkg@v2", "--strategy", "resource-merge"]);
        start.elapsed()
    });
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Parse and identifier costs (`BENCH_BREAKDOWN=1`).
fn breakdown(files: &Files) {
    let start = Instant::now();
    for (p, c) in files {
        if p.ends_with(".yaml") {
            std::hint::black_box(
                veranda_yaml::stream::parse_stream(std::str::from_utf8(c).unwrap()).unwrap(),
            );
        }
    }
    println!("parse: {:?}", start.elapsed());
    let start = Instant::now();
    for (p, c) in files {
        if p.ends_with(".yaml") {
            std::hint::black_box(
                veranda_yaml::stream::parse_stream(std::str::from_utf8(c).unwrap()).unwrap(),
            );
        }
    }
    println!("parse again: {:?}", start.elapsed());
    let start = Instant::now();
    for (p, c) in files {
        if p.ends_with(".yaml") {
            std::hint::black_box(
                serde_yaml::from_str::<serde_yaml::Value>(std::str::from_utf8(c).unwrap()).ok(),
            );
        }
    }
    println!("serde_yaml: {:?}", start.elapsed());
    let start = Instant::now();
    std::hint::black_box(veranda_kpt::add_upstream_identifiers(files));
    println!("identifiers: {:?}", start.elapsed());
}
