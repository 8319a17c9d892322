//! Random package triples (original upstream, new upstream, local) for the property and
//! differential tests: a Deployment, a ConfigMap, an optional Service, a multi-document file and
//! a README, each side derived from the original by random edits.

use std::collections::BTreeMap;

use veranda_kpt::Files;

/// A small deterministic random source (xorshift), so that a seed names a triple.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.below(options.len() as u64) as usize]
    }
}

#[derive(Clone, Debug)]
struct Container {
    name: String,
    image: String,
    env: Vec<(String, String)>,
    port: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Pkg {
    replicas: u32,
    labels: BTreeMap<String, String>,
    containers: Vec<Container>,
    data: BTreeMap<String, String>,
    has_cm: bool,
    service_port: Option<u32>,
    extra: Vec<(String, String)>,
    readme: String,
    new_files: Vec<String>,
    /// Comments the local side adds: (anchor, text).
    comments: Vec<(&'static str, String)>,
}

impl Pkg {
    pub(crate) fn original(rng: &mut Rng) -> Pkg {
        let mut containers = vec![Container {
            name: "app".into(),
            image: "nginx:1.0".into(),
            env: vec![("MODE".into(), "prod".into()), ("LEVEL".into(), "info".into())],
            port: 80,
        }];
        if rng.below(2) == 0 {
            containers.push(Container {
                name: "sidecar".into(),
                image: "envoy:1".into(),
                env: Vec::new(),
                port: 9000,
            });
        }
        Pkg {
            replicas: 1 + rng.below(3) as u32,
            labels: BTreeMap::from([("app".to_string(), "demo".to_string())]),
            containers,
            data: (0..1 + rng.below(3)).map(|i| (format!("key{i}"), format!("value{i}"))).collect(),
            has_cm: true,
            service_port: (rng.below(2) == 0).then_some(80),
            extra: vec![("extra-a".into(), "1".into()), ("extra-b".into(), "2".into())],
            readme: "# demo\n".into(),
            new_files: Vec::new(),
            comments: Vec::new(),
        }
    }

    /// Applies `n` random edits. `side` names the side in new values; `local` allows the
    /// edits only a local user makes (comments).
    pub(crate) fn edit(&mut self, rng: &mut Rng, n: u64, side: &str, local: bool) {
        for step in 0..n {
            let tag = format!("{side}{step}");
            match rng.below(13) {
                0 => self.replicas = 1 + rng.below(9) as u32,
                1 => {
                    let idx = rng.below(self.containers.len() as u64) as usize;
                    self.containers[idx].image =
                        format!("{}:{}", rng.pick(&["nginx", "httpd", "caddy"]), tag);
                }
                2 => {
                    let idx = rng.below(self.containers.len() as u64) as usize;
                    self.containers[idx]
                        .env
                        .push((format!("VAR_{}", tag.to_uppercase()), tag.clone()));
                }
                3 => {
                    let c = &mut self.containers[0];
                    if !c.env.is_empty() {
                        let idx = rng.below(c.env.len() as u64) as usize;
                        c.env.remove(idx);
                    }
                }
                4 if self.containers.len() < 3 => self.containers.push(Container {
                    name: format!("extra-{tag}"),
                    image: "busybox:1".into(),
                    env: Vec::new(),
                    port: 7000 + step as u32,
                }),
                5 if self.containers.len() > 1 => {
                    self.containers.pop();
                }
                6 => {
                    self.labels
                        .insert(format!("team-{tag}"), rng.pick(&["a", "b", "c"]).to_string());
                }
                7 => {
                    let key = format!("key{}", rng.below(4));
                    self.data.insert(key, format!("{tag}-value"));
                }
                8 if self.data.len() > 1 => {
                    let key = self.data.keys().next().cloned().unwrap_or_default();
                    self.data.remove(&key);
                }
                9 => self.readme = format!("# demo\n\nchanged by {tag}\n"),
                10 => self.new_files.push(tag.clone()),
                11 => {
                    if let Some(p) = self.service_port.as_mut() {
                        *p = 8000 + rng.below(100) as u32;
                    }
                }
                12 if local => {
                    let anchor = rng.pick(&["replicas", "spec", "data", "labels"]);
                    let anchor = match anchor {
                        "replicas" => "replicas",
                        "spec" => "spec",
                        "data" => "data",
                        _ => "labels",
                    };
                    self.comments.push((anchor, format!("# note {tag}")));
                }
                _ => self.extra[0].1 = tag.clone(),
            }
        }
    }

    /// Drops the ConfigMap (a resource deletion).
    pub(crate) fn delete_config_map(&mut self) {
        self.has_cm = false;
    }

    pub(crate) fn files(&self) -> Files {
        let comment = |anchor: &str| -> String {
            self.comments
                .iter()
                .filter(|(a, _)| *a == anchor)
                .map(|(_, c)| format!(" {c}"))
                .next()
                .unwrap_or_default()
        };
        let head = |anchor: &str, indent: &str| -> String {
            self.comments
                .iter()
                .filter(|(a, _)| *a == anchor)
                .map(|(_, c)| format!("{indent}{c}\n"))
                .collect()
        };
        let mut deploy = String::from(
            "# Copyright example\n\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: demo\n  labels:\n",
        );
        for (k, v) in &self.labels {
            deploy.push_str(&format!("    {k}: {v}\n"));
        }
        deploy.push_str(&head("spec", ""));
        deploy.push_str(&format!(
            "spec:\n  replicas: {}{}\n  template:\n    spec:\n      containers:\n",
            self.replicas,
            comment("replicas")
        ));
        for c in &self.containers {
            deploy.push_str(&format!(
                "        - name: {}\n          image: \"{}\"\n",
                c.name, c.image
            ));
            if !c.env.is_empty() {
                deploy.push_str("          env:\n");
                for (k, v) in &c.env {
                    deploy
                        .push_str(&format!("            - name: {k}\n              value: {v}\n"));
                }
            }
            deploy
                .push_str(&format!("          ports:\n            - containerPort: {}\n", c.port));
        }
        let mut files = Files::new();
        files.insert("Kptfile".into(), b"apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\ninfo:\n  description: generated package\n".to_vec());
        files.insert("deployment.yaml".into(), deploy.into_bytes());
        if self.has_cm {
            let mut cm =
                String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo-config\n");
            cm.push_str(&head("labels", "  "));
            cm.push_str(&format!("  labels:\n    app: demo\ndata:{}\n", comment("data")));
            for (k, v) in &self.data {
                cm.push_str(&format!("  {k}: \"{v}\"\n"));
            }
            files.insert("configmap.yaml".into(), cm.into_bytes());
        }
        if let Some(port) = self.service_port {
            files.insert(
                "service.yaml".into(),
                format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: demo\nspec:\n  selector:\n    app: demo\n  ports:\n    - port: {port}\n      protocol: TCP\n").into_bytes(),
            );
        }
        let extra: Vec<String> = self
            .extra
            .iter()
            .map(|(name, v)| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{v}\"\n"))
            .collect();
        files.insert("extra.yaml".into(), extra.join("---\n").into_bytes());
        for tag in &self.new_files {
            files.insert(
                format!("new-{tag}.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new-{tag}\ndata:\n  from: {tag}\n").into_bytes(),
            );
        }
        files.insert("README.md".into(), self.readme.clone().into_bytes());
        files
    }
}

/// A triple from a seed: (original, updated, local).
pub(crate) fn triple(seed: u64) -> (Files, Files, Files) {
    let mut rng = Rng::new(seed);
    let original = Pkg::original(&mut rng);
    let mut updated = original.clone();
    let n = 1 + rng.below(4);
    updated.edit(&mut rng, n, "up", false);
    let mut local = original.clone();
    let n = 1 + rng.below(4);
    local.edit(&mut rng, n, "local", true);
    if rng.below(6) == 0 {
        updated.delete_config_map();
    }
    (original.files(), updated.files(), local.files())
}

/// A triple where only one side changed: `(original, changed)`.
pub(crate) fn one_side(seed: u64, local: bool) -> (Files, Files) {
    let mut rng = Rng::new(seed);
    let original = Pkg::original(&mut rng);
    let mut changed = original.clone();
    let n = 1 + rng.below(5);
    changed.edit(&mut rng, n, if local { "local" } else { "up" }, local);
    (original.files(), changed.files())
}
