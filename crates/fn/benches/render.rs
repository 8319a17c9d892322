//! Render benchmark: a 100-resource package through set-namespace + set-labels +
//! apply-replacements, with the built-ins in process, with the same built-ins as exec functions
//! (`krm-fn`) through our engine, and through the real `kpt fn render --allow-exec` with the
//! same exec functions when `kpt` is on `PATH`. Reports medians (std-only timing).
//!
//! Run: `cargo bench -p veranda-fn --bench render` (set `BENCH_ITERATIONS` to change the count).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use veranda_fn::{BuiltinRuntime, ExecRuntime, Files, MultiRuntime, RenderOptions, render};

const RESOURCES: usize = 100;

fn package(function: &dyn Fn(&str) -> String) -> Files {
    let mut files = Files::new();
    let kptfile = format!(
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: bench\npipeline:\n  mutators:\n    - {}\n      configMap:\n        namespace: bench-ns\n    - {}\n      configMap:\n        app.kubernetes.io/part-of: bench\n        tier: backend\n    - {}\n      configPath: replacements.yaml\n",
        function("set-namespace"),
        function("set-labels"),
        function("apply-replacements"),
    );
    files.insert("Kptfile".into(), kptfile.into_bytes());
    files.insert(
        "replacements.yaml".into(),
        b"apiVersion: fn.kpt.dev/v1alpha1\nkind: ApplyReplacements\nmetadata:\n  name: replacements\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nreplacements:\n  - source:\n      kind: ConfigMap\n      name: settings\n      fieldPath: data.image\n    targets:\n      - select:\n          kind: Deployment\n        fieldPaths:\n          - spec.template.spec.containers.[name=app].image\n"
            .to_vec(),
    );
    files.insert(
        "settings.yaml".into(),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  image: registry.example.com/app:v2 # the image\n".to_vec(),
    );
    for i in 0..(RESOURCES - 3) / 2 {
        let deployment = format!(
            "# Deployment {i}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels:\n    app: app-{i}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n    metadata:\n      labels:\n        app: app-{i}\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app:v1\n          ports:\n            - containerPort: 8080\n          env:\n            - name: INDEX\n              value: \"{i}\"\n"
        );
        files.insert(format!("apps/app-{i:03}/deployment.yaml"), deployment.into_bytes());
        let service = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector:\n    app: app-{i}\n  ports:\n    - port: 80\n      targetPort: 8080\n"
        );
        files.insert(format!("apps/app-{i:03}/service.yaml"), service.into_bytes());
    }
    files
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(iterations: usize, mut f: impl FnMut()) -> Duration {
    f();
    median(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn write_dir(dir: &Path, files: &Files) {
    for (path, content) in files {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, content).expect("write");
    }
}

fn main() {
    let iterations: usize =
        std::env::var("BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let krm_fn = env!("CARGO_BIN_EXE_krm-fn");
    let options =
        RenderOptions { allow_exec: true, write_status: true, ..RenderOptions::default() };

    let builtin_pkg =
        package(&|name| format!("image: ghcr.io/kptdev/krm-functions-catalog/{name}:v0.4"));
    let check = render(&builtin_pkg, &BuiltinRuntime, &options);
    assert_eq!(check.error, None, "{}", check.log);
    let deployment =
        String::from_utf8_lossy(&check.files["apps/app-000/deployment.yaml"]).into_owned();
    assert!(
        deployment.contains("namespace: bench-ns") && deployment.contains("app:v2"),
        "{deployment}"
    );
    let builtin = time(iterations, || {
        let outcome = render(&builtin_pkg, &BuiltinRuntime, &options);
        assert!(outcome.error.is_none());
    });

    if std::env::var("BENCH_BUILTIN_ONLY").is_ok() {
        println!("veranda, built-ins in process: {builtin:.2?} (median of {iterations})");
        return;
    }
    let exec_pkg = package(&|name| format!("exec: {krm_fn} {name}"));
    let exec_runtime = MultiRuntime {
        runtimes: vec![Arc::new(ExecRuntime { allow_exec: true, ..ExecRuntime::default() })],
    };
    let engine_exec = time(iterations.min(10), || {
        let outcome = render(&exec_pkg, &exec_runtime, &options);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    });

    println!(
        "render of {RESOURCES} resources (set-namespace + set-labels + apply-replacements), median of {iterations}:"
    );
    println!("  veranda, built-ins in process:     {builtin:>10.2?}");
    println!("  veranda, same functions as exec:   {engine_exec:>10.2?}");

    let kpt_available =
        Command::new("kpt").arg("version").output().is_ok_and(|o| o.status.success());
    if !kpt_available {
        println!("  kpt fn render (exec functions):    skipped, `kpt` not on PATH");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let kpt_iterations = iterations.min(10);
    let mut samples = Vec::new();
    for i in 0..=kpt_iterations {
        let dir = work.path().join(format!("run-{i}"));
        write_dir(&dir, &exec_pkg);
        let start = Instant::now();
        let output = Command::new("kpt")
            .args(["fn", "render", "--allow-exec", "--truncate-output=false"])
            .arg(&dir)
            .output()
            .expect("run kpt");
        let elapsed = start.elapsed();
        assert!(output.status.success(), "kpt failed: {}", String::from_utf8_lossy(&output.stderr));
        if i == 0 {
            // Same output as our engine (without the Kptfile, beta.56 writes no status).
            let ours = render(
                &exec_pkg,
                &exec_runtime,
                &RenderOptions { write_status: false, ..options.clone() },
            );
            let theirs = std::fs::read(dir.join("apps/app-000/deployment.yaml")).expect("read");
            let same = ours.files["apps/app-000/deployment.yaml"] == theirs;
            println!(
                "  (kpt and veranda outputs identical for apps/app-000/deployment.yaml: {same})"
            );
            continue;
        }
        samples.push(elapsed);
    }
    let kpt = median(samples);
    println!("  kpt fn render, exec functions:     {kpt:>10.2?} (median of {kpt_iterations})");
    println!(
        "  ratio kpt / veranda built-ins: {:.1}x; kpt / veranda exec: {:.1}x",
        kpt.as_secs_f64() / builtin.as_secs_f64(),
        kpt.as_secs_f64() / engine_exec.as_secs_f64()
    );
}
