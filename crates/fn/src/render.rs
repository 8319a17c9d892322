//! `kpt fn render` over an in-memory package: hydration order (depth-first post-order, or
//! top-down with `kpt.dev/bfs-rendering`), mutators then validators per package, function
//! configs, selectors and exclusions, results, pruning, the root Kptfile render status and
//! `kpt.dev/save-on-render-failure`.
//!
//! The behaviour follows kpt 1.0.0-beta.56 (`internal/util/render/executor.go`), whose output
//! the goldens record, plus the render status that kpt ≥ beta.62 writes, behind
//! [`RenderOptions::write_status`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::kio::{self, Files};
use crate::runtime::{FunctionRef, FunctionRuntime, NodeRun, RuntimeError};
use crate::yaml::{self, Kind, Node, Style};
pub use veranda_kpt::kptfile::Selector;
use veranda_kpt::kptfile::{Function, Pipeline};

/// The annotation that makes render write partially rendered resources on failure.
pub const SAVE_ON_RENDER_FAILURE: &str = "kpt.dev/save-on-render-failure";
/// The annotation that selects top-down (breadth-first) rendering.
pub const BFS_RENDERING: &str = "kpt.dev/bfs-rendering";

const RESOURCE_ID: &str = "internal.config.k8s.io/kpt-resource-id";
const ALLOW_EXEC_ERROR: &str =
    "must run with `--allow-exec` option to allow running function binaries";
const TRUNCATE_LINES: usize = 4;

/// How render behaves.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Run Kptfile `exec:` functions (kpt's `--allow-exec`); Porch never allows them.
    pub allow_exec: bool,
    /// Write the `Rendered` condition and `status.renderStatus` into the root Kptfile, as
    /// kpt ≥ 1.0.0-beta.62 does. kpt 1.0.0-beta.56, which made the goldens, writes no status.
    pub write_status: bool,
    /// Prefix for image names without a registry (kpt's `--default-image-prefix`).
    pub default_image_prefix: String,
    /// Name of the root package in the progress log (kpt prints the directory name).
    pub root_display_name: String,
    /// Render to [`RenderOutcome::resource_list`] instead of files (kpt's `-o stdout`): the
    /// files stay as they were.
    pub output_resource_list: bool,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            allow_exec: false,
            write_status: true,
            default_image_prefix: "ghcr.io/kptdev/krm-functions-catalog/".into(),
            root_display_name: ".".into(),
            output_resource_list: false,
        }
    }
}

/// The result of a render. On failure `files` holds what kpt leaves on disk: the input
/// unchanged, or the partially rendered package with `kpt.dev/save-on-render-failure`; the
/// caller decides whether to push it.
#[derive(Clone, Debug)]
pub struct RenderOutcome {
    pub files: Files,
    /// The `FunctionResultList` (kpt.dev/v1) as JSON.
    pub results: serde_json::Value,
    /// The same list as kpt writes it to `results.yaml`.
    pub results_yaml: String,
    pub error: Option<String>,
    /// kpt's progress output (what `kpt fn render` prints on stderr).
    pub log: String,
    /// With [`RenderOptions::output_resource_list`], the rendered resources as the
    /// `ResourceList` kpt's `-o stdout` prints (reader annotations kept).
    pub resource_list: Option<String>,
}

/// Renders a package (file paths relative to the root package, which has a `Kptfile`).
pub fn render(
    files: &Files,
    runtime: &dyn FunctionRuntime,
    options: &RenderOptions,
) -> RenderOutcome {
    guard(files, || {
        let mut renderer = Renderer::new(files, runtime, options);
        let result = renderer.run();
        renderer.outcome(files, result)
    })
}

/// Runs one function over every resource of the package tree, like `kpt fn eval` (meta
/// resources and subpackages included). `function_config` is the YAML of the functionConfig
/// resource (for `-- k=v` arguments, a `function-input` ConfigMap).
pub fn eval(
    files: &Files,
    runtime: &dyn FunctionRuntime,
    function: &FunctionRef,
    function_config: Option<&str>,
    options: &RenderOptions,
) -> RenderOutcome {
    eval_selected(
        files,
        runtime,
        function,
        function_config,
        &Selector::default(),
        &Selector::default(),
        options,
    )
}

/// [`eval()`] on the resources `selector` matches and `exclude` does not (kpt fn eval's
/// `--match-*` and `--exclude-*` flags; empty selectors select everything). With either, the
/// progress log shows the number of resources given to the function, as kpt does.
pub fn eval_selected(
    files: &Files,
    runtime: &dyn FunctionRuntime,
    function: &FunctionRef,
    function_config: Option<&str>,
    selector: &Selector,
    exclude: &Selector,
    options: &RenderOptions,
) -> RenderOutcome {
    guard(files, || {
        let mut renderer = Renderer::new(files, runtime, options);
        let result = renderer.eval(function, function_config, selector, exclude);
        renderer.outcome(files, result)
    })
}

/// kpt's `-o unwrap`: the items of a `ResourceList` (as [`RenderOutcome::resource_list`]) as a
/// YAML stream, without the reader annotations (kyaml's `ByteWriter` with `ClearAnnotations`).
pub fn unwrap_resource_list(text: &str) -> Result<String, String> {
    let options =
        kio::ReadOptions { annotations: Vec::new(), reader_annotations: false, unwrap: true };
    let (mut nodes, _) = kio::read_stream(text, &options)?;
    let mut styles = Vec::new();
    for node in nodes.iter_mut() {
        styles.push(match node.annotation(kio::SEQ_INDENT) {
            Some("wide") => yaml::SeqIndent::Wide,
            _ => yaml::SeqIndent::Compact,
        });
        for key in [
            kio::PATH,
            kio::LEGACY_PATH,
            kio::INDEX,
            kio::LEGACY_INDEX,
            kio::SEQ_INDENT,
            kio::ID,
            kio::LEGACY_ID,
        ] {
            node.clear_annotation(key);
        }
        node.clear_empty_annotations();
    }
    let documents: Vec<&Node> = nodes.iter().collect();
    yaml::emit_with_styles(&documents, &styles).map_err(|e| e.to_string())
}

/// Turns a panic (a bug, never expected) into a failed render instead of unwinding into the
/// caller.
fn guard(files: &Files, f: impl FnOnce() -> RenderOutcome) -> RenderOutcome {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| RenderOutcome {
        files: files.clone(),
        results: serde_json::Value::Null,
        results_yaml: String::new(),
        error: Some("internal error: render panicked".into()),
        log: String::new(),
        resource_list: None,
    })
}

struct Package {
    pipeline: Pipeline,
}

type Failure = (String, Option<Vec<Node>>);

struct Renderer<'a> {
    files: &'a Files,
    runtime: &'a dyn FunctionRuntime,
    options: &'a RenderOptions,
    packages: BTreeMap<String, Package>,
    results: Vec<Node>,
    exit_code: i32,
    input_files: BTreeSet<String>,
    executed: usize,
    log: String,
    mutation_steps: Vec<Node>,
    validation_steps: Vec<Node>,
    error_summary: Vec<String>,
    output_files: Option<Files>,
    save_on_failure: bool,
    resource_list: Option<String>,
}

impl<'a> Renderer<'a> {
    fn outcome(&mut self, files: &Files, result: Result<(), String>) -> RenderOutcome {
        let error = result.err();
        let results_node = self.results_node();
        let results_yaml = yaml::emit(&[&results_node], yaml::SeqIndent::Wide).unwrap_or_default();
        RenderOutcome {
            files: self.output_files.take().unwrap_or_else(|| files.clone()),
            results: results_node.to_json(),
            results_yaml,
            error,
            log: std::mem::take(&mut self.log),
            resource_list: self.resource_list.take(),
        }
    }

    fn new(
        files: &'a Files,
        runtime: &'a dyn FunctionRuntime,
        options: &'a RenderOptions,
    ) -> Renderer<'a> {
        Renderer {
            files,
            runtime,
            options,
            packages: BTreeMap::new(),
            results: Vec::new(),
            exit_code: 0,
            input_files: BTreeSet::new(),
            executed: 0,
            log: String::new(),
            mutation_steps: Vec::new(),
            validation_steps: Vec::new(),
            error_summary: Vec::new(),
            output_files: None,
            save_on_failure: false,
            resource_list: None,
        }
    }

    fn run(&mut self) -> Result<(), String> {
        let root_kptfile = self.read_kptfile("")?;
        let save_on_failure = is_true(root_kptfile.annotation(SAVE_ON_RENDER_FAILURE));
        self.save_on_failure = save_on_failure;
        let bfs = is_true(root_kptfile.annotation(BFS_RENDERING));
        for dir in self.package_dirs() {
            let kptfile = self.read_kptfile(&dir)?;
            let pipeline = Pipeline::from_node(&kptfile)
                .map_err(|e| format!("pkg {}: {e}", display_dir(&dir)))?;
            self.validate_pipeline(&dir, &pipeline)?;
            self.packages.insert(dir, Package { pipeline });
        }
        let hydrated = if bfs { self.hydrate_bfs() } else { self.hydrate("") };
        match hydrated {
            Ok(resources) if self.options.output_resource_list => {
                self.resource_list = Some(self.resource_list_yaml(resources)?);
                self.output_files = Some(self.files.clone());
                Ok(())
            }
            Ok(resources) => {
                let files = self.write(resources, true)?;
                let files = self.with_status(files, None);
                self.output_files = Some(files);
                self.log.push_str(&format!(
                    "Successfully executed {} function(s) in {} package(s).\n",
                    self.executed,
                    self.packages.len()
                ));
                Ok(())
            }
            Err((message, partial)) => {
                let files = match partial {
                    Some(resources) if save_on_failure => {
                        self.write(resources, false).unwrap_or_else(|_| self.files.clone())
                    }
                    _ => self.files.clone(),
                };
                let files = self.with_status(files, Some(&message));
                self.output_files = Some(files);
                Err(message)
            }
        }
    }

    fn eval(
        &mut self,
        function_ref: &FunctionRef,
        function_config: Option<&str>,
        selector: &Selector,
        exclude: &Selector,
    ) -> Result<(), String> {
        let config = match function_config {
            Some(text) => Some(
                yaml::parse_document(text)
                    .map_err(|e| format!("invalid function config: {e}"))?
                    .map(|d| d.inner().clone())
                    .ok_or("invalid function config: empty document")?,
            ),
            None => None,
        };
        let ignore = self
            .files
            .get(".krmignore")
            .map(|c| kio::IgnoreRules::parse(&String::from_utf8_lossy(c)))
            .unwrap_or_default();
        let mut paths: Vec<&String> = self
            .files
            .keys()
            .filter(|p| is_krm_file(p.rsplit('/').next().unwrap_or(p)) && !ignore.ignored(p))
            .collect();
        paths.sort_by(|a, b| kio::walk_order(a, b));
        let mut resources = Vec::new();
        for path in paths {
            let text = std::str::from_utf8(&self.files[path])
                .map_err(|_| format!("{path}: invalid UTF-8"))?;
            let options = kio::ReadOptions {
                annotations: vec![
                    (kio::PACKAGE_PATH, package_path("")),
                    (kio::PATH, path.clone()),
                    (kio::LEGACY_PATH, path.clone()),
                ],
                reader_annotations: true,
                unwrap: false,
            };
            let (nodes, _) =
                kio::read_stream(text, &options).map_err(|e| format!("{path}: {e}"))?;
            resources.extend(nodes);
        }
        self.track_input_files("", &resources);
        let function = match function_ref {
            FunctionRef::Image(image) => Function { image: image.clone(), ..Function::default() },
            FunctionRef::Exec(exec) => Function { exec: exec.clone(), ..Function::default() },
        };
        let scoped = !selector.is_empty() || !exclude.is_empty();
        let (selected, all) = if scoped {
            for (i, resource) in resources.iter_mut().enumerate() {
                resource.set_annotation(RESOURCE_ID, &i.to_string());
            }
            let selectors: &[Selector] =
                if selector.is_empty() { &[] } else { std::slice::from_ref(selector) };
            (select(&resources, selectors, std::slice::from_ref(exclude)), resources)
        } else {
            (resources, Vec::new())
        };
        let selected_for_merge = if scoped { selected.clone() } else { Vec::new() };
        match self.run_function("", &function, selected, config, scoped, false) {
            Ok(mut output) => {
                self.executed += 1;
                if scoped {
                    output = merge_with_input(output, &selected_for_merge, all);
                    for resource in output.iter_mut() {
                        resource.clear_annotation(RESOURCE_ID);
                    }
                }
                let files = self.write(output, true)?;
                self.output_files = Some(files);
                Ok(())
            }
            Err(message) => {
                self.output_files = Some(self.files.clone());
                Err(message)
            }
        }
    }

    fn read_kptfile(&self, dir: &str) -> Result<Node, String> {
        let path = join(dir, "Kptfile");
        let content = self
            .files
            .get(&path)
            .ok_or_else(|| format!("pkg {}: missing Kptfile", display_dir(dir)))?;
        let text = std::str::from_utf8(content).map_err(|_| format!("{path}: invalid UTF-8"))?;
        let node = yaml::parse_document(text)
            .map_err(|e| format!("error reading Kptfile at {:?}: {e}", display_dir(dir)))?
            .ok_or_else(|| {
                format!("error reading Kptfile at {:?}: empty file", display_dir(dir))
            })?;
        if node.inner().kind != Kind::Mapping {
            return Err(format!("error reading Kptfile at {:?}: not a mapping", display_dir(dir)));
        }
        Ok(node)
    }

    /// Every package directory ("" for the root), in walk order.
    fn package_dirs(&self) -> Vec<String> {
        let mut dirs: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| {
                if p == "Kptfile" {
                    Some(String::new())
                } else {
                    p.strip_suffix("/Kptfile").map(str::to_string)
                }
            })
            .collect();
        dirs.sort_by(|a, b| kio::walk_order(a, b));
        dirs
    }

    fn direct_subpackages(&self, dir: &str) -> Vec<String> {
        let mut subs: Vec<String> = self
            .packages
            .keys()
            .filter(|d| {
                *d != dir
                    && is_under(d, dir)
                    && !self.packages.keys().any(|mid| {
                        mid != dir && *mid != **d && is_under(mid, dir) && is_under(d, mid)
                    })
            })
            .cloned()
            .collect();
        subs.sort_by(|a, b| kio::walk_order(a, b));
        subs
    }

    fn validate_pipeline(&self, dir: &str, pipeline: &Pipeline) -> Result<(), String> {
        for function in pipeline.mutators.iter().chain(&pipeline.validators) {
            let location = format!("pkg {}", display_dir(dir));
            if function.image.is_empty() && function.exec.is_empty() {
                return Err(format!("{location}: function must specify `image` or `exec`"));
            }
            if function.config_map.is_some() && !function.config_path.is_empty() {
                return Err(format!(
                    "{location}: functionConfig must not specify both `configMap` and `configPath` at the same time"
                ));
            }
            if !function.config_path.is_empty() {
                let cleaned = kio::clean_path(&function.config_path);
                if function.config_path.starts_with('/') || cleaned.starts_with("..") {
                    return Err(format!(
                        "{location}: function config path {:?} must be a relative path within the package",
                        function.config_path
                    ));
                }
                if !self.files.contains_key(&join(dir, &cleaned)) {
                    return Err(format!(
                        "{location}: missing function config {:?}",
                        function.config_path
                    ));
                }
            }
        }
        Ok(())
    }

    /// The KRM resources of one package (not its subpackages), like kpt's `LocalResources`.
    fn local_resources(&self, dir: &str) -> Result<Vec<Node>, String> {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let ignore = self
            .files
            .get(&format!("{prefix}.krmignore"))
            .map(|c| kio::IgnoreRules::parse(&String::from_utf8_lossy(c)))
            .unwrap_or_default();
        let mut paths: Vec<&String> = self
            .files
            .keys()
            .filter(|p| p.starts_with(&prefix))
            .filter(|p| {
                let rel = &p[prefix.len()..];
                let base = rel.rsplit('/').next().unwrap_or(rel);
                is_krm_file(base)
                    && !ignore.ignored(rel)
                    && !self.packages.keys().any(|d| d != dir && is_under(d, dir) && is_under(p, d))
            })
            .collect();
        paths.sort_by(|a, b| kio::walk_order(a, b));
        let package_path = package_path(dir);
        let mut resources = Vec::new();
        for path in paths {
            let rel = &path[prefix.len()..];
            let content = &self.files[path];
            let text =
                std::str::from_utf8(content).map_err(|_| format!("{path}: invalid UTF-8"))?;
            let options = kio::ReadOptions {
                annotations: vec![
                    (kio::PACKAGE_PATH, package_path.clone()),
                    (kio::PATH, rel.to_string()),
                    (kio::LEGACY_PATH, rel.to_string()),
                ],
                reader_annotations: true,
                unwrap: false,
            };
            let (nodes, _) =
                kio::read_stream(text, &options).map_err(|e| format!("{path}: {e}"))?;
            resources.extend(nodes);
        }
        Ok(resources)
    }

    fn track_input_files(&mut self, dir: &str, resources: &[Node]) {
        for resource in resources {
            let (path, _) = kio::file_annotations(resource);
            self.input_files.insert(kio::clean_path(&join(dir, &path)));
        }
    }

    fn hydrate(&mut self, dir: &str) -> Result<Vec<Node>, Failure> {
        let mut input = Vec::new();
        let local = self.local_resources(dir).map_err(|e| (e, None))?;
        for sub in self.direct_subpackages(dir) {
            match self.hydrate(&sub) {
                Ok(resources) => input.extend(resources),
                Err((message, partial)) => {
                    let partial = partial.map(|p| {
                        let mut all = input.clone();
                        all.extend(p);
                        all.extend(local.clone());
                        all
                    });
                    return Err((message, partial));
                }
            }
        }
        self.track_input_files(dir, &local);
        input.extend(local);
        self.run_pipeline(dir, input)
    }

    fn hydrate_bfs(&mut self) -> Result<Vec<Node>, Failure> {
        let mut order = vec![String::new()];
        let mut i = 0;
        while i < order.len() {
            let subs = self.direct_subpackages(&order[i]);
            order.extend(subs);
            i += 1;
        }
        let mut resources: BTreeMap<String, Vec<Node>> = BTreeMap::new();
        for dir in &order {
            let local = self.local_resources(dir).map_err(|e| (e, None))?;
            self.track_input_files(dir, &local);
            resources.insert(dir.clone(), local);
        }
        let aggregate = |resources: &BTreeMap<String, Vec<Node>>| {
            order
                .iter()
                .flat_map(|d| resources.get(d).cloned().unwrap_or_default())
                .collect::<Vec<_>>()
        };
        for dir in &order {
            let mut input = resources.get(dir).cloned().unwrap_or_default();
            let descendants: Vec<&String> =
                order.iter().filter(|d| *d != dir && is_under(d, dir)).collect();
            for d in &descendants {
                input.extend(resources.get(*d).cloned().unwrap_or_default());
            }
            let (output, failure) = match self.run_pipeline(dir, input) {
                Ok(output) => (output, None),
                Err((message, partial)) => (partial.unwrap_or_default(), Some(message)),
            };
            // Give every package back the resources that carry its package path.
            let mut by_package: BTreeMap<String, Vec<Node>> = BTreeMap::new();
            for resource in output {
                let path = resource.annotation(kio::PACKAGE_PATH).unwrap_or("").to_string();
                let target = order
                    .iter()
                    .find(|d| package_path(d) == path)
                    .cloned()
                    .unwrap_or_else(|| dir.clone());
                by_package.entry(target).or_default().push(resource);
            }
            resources.insert(dir.clone(), Vec::new());
            for d in &descendants {
                resources.insert((*d).clone(), Vec::new());
            }
            for (target, list) in by_package {
                resources.insert(target, list);
            }
            if let Some(message) = failure {
                return Err((message, Some(aggregate(&resources))));
            }
        }
        Ok(aggregate(&resources))
    }

    fn run_pipeline(&mut self, dir: &str, input: Vec<Node>) -> Result<Vec<Node>, Failure> {
        let display = self.display_name(dir);
        self.log.push_str(&format!("Package \"{display}\": \n"));
        let pipeline = self.packages.get(dir).map(|p| p.pipeline.clone()).unwrap_or_default();
        if pipeline.mutators.is_empty() && pipeline.validators.is_empty() {
            are_krm(&input).map_err(|e| {
                (format!("input resource list must contain only KRM resources: {e}"), None)
            })?;
            return Ok(input);
        }
        let location = format!("pkg {}", display_dir(dir));
        let mut input = input;
        if !self.options.allow_exec && pipeline.mutators.iter().any(|f| !f.exec.is_empty()) {
            return Err((format!("{location}: {ALLOW_EXEC_ERROR}"), Some(input)));
        }
        for function in &pipeline.mutators {
            let mut config = self
                .function_config(dir, function)
                .map_err(|e| (format!("{location}: {e}"), None))?;
            if !function.config_path.is_empty() {
                let wanted = kio::clean_path(&function.config_path);
                let pkg_path = package_path(dir);
                if let Some(resource) = input.iter().find(|r| {
                    r.annotation(kio::PACKAGE_PATH) == Some(pkg_path.as_str())
                        && kio::clean_path(&kio::file_annotations(r).0) == wanted
                }) {
                    config = Some(resource.clone());
                }
            }
            let scoped = !function.selectors.is_empty() || !function.exclude.is_empty();
            if scoped {
                for (i, resource) in input.iter_mut().enumerate() {
                    resource.set_annotation(RESOURCE_ID, &i.to_string());
                }
            }
            // Without selectors the function gets the input itself; a copy is kept only when a
            // failure has to return the resources as they were.
            let selected = if scoped {
                select(&input, &function.selectors, &function.exclude)
            } else if self.save_on_failure {
                input.clone()
            } else {
                std::mem::take(&mut input)
            };
            let selected_for_merge = if scoped { selected.clone() } else { Vec::new() };
            let output = match self.run_function(dir, function, selected, config, scoped, false) {
                Ok(output) => output,
                Err(message) => {
                    if scoped {
                        for resource in input.iter_mut() {
                            resource.clear_annotation(RESOURCE_ID);
                        }
                    }
                    let partial = if scoped || self.save_on_failure { Some(input) } else { None };
                    return Err((format!("{location}: {message}"), partial));
                }
            };
            self.executed += 1;
            if scoped {
                input = merge_with_input(output, &selected_for_merge, input);
                for resource in input.iter_mut() {
                    resource.clear_annotation(RESOURCE_ID);
                }
            } else {
                input = output;
            }
        }
        for function in &pipeline.validators {
            if !function.exec.is_empty() && !self.options.allow_exec {
                return Err((format!("{location}: {ALLOW_EXEC_ERROR}"), Some(input)));
            }
            let mut config = self
                .function_config(dir, function)
                .map_err(|e| (format!("{location}: {e}"), None))?;
            if !function.config_path.is_empty() {
                let wanted = kio::clean_path(&function.config_path);
                let pkg_path = package_path(dir);
                if let Some(resource) = input.iter().find(|r| {
                    r.annotation(kio::PACKAGE_PATH) == Some(pkg_path.as_str())
                        && kio::clean_path(&kio::file_annotations(r).0) == wanted
                }) {
                    config = Some(resource.clone());
                }
            }
            let scoped = !function.selectors.is_empty() || !function.exclude.is_empty();
            let selected = select(&input, &function.selectors, &function.exclude);
            if let Err(message) = self.run_function(dir, function, selected, config, scoped, true) {
                return Err((format!("{location}: {message}"), Some(input)));
            }
            self.executed += 1;
        }
        self.log.push('\n');
        Ok(input)
    }

    /// The functionConfig from the Kptfile: the `configPath` file or an inline `configMap`.
    fn function_config(&self, dir: &str, function: &Function) -> Result<Option<Node>, String> {
        if !function.config_path.is_empty() {
            let path = join(dir, &kio::clean_path(&function.config_path));
            let content = self
                .files
                .get(&path)
                .ok_or_else(|| format!("missing function config {:?}", function.config_path))?;
            let text = String::from_utf8_lossy(content);
            let node = yaml::parse_document(&text)
                .map_err(|e| format!("invalid function config {:?} {e}", function.config_path))?
                .ok_or_else(|| format!("invalid function config {:?}", function.config_path))?;
            return Ok(Some(node.inner().clone()));
        }
        match &function.config_map {
            Some(data) if !data.is_empty() => Ok(Some(config_map(data))),
            _ => Ok(None),
        }
    }

    fn display_name(&self, dir: &str) -> String {
        if dir.is_empty() {
            self.options.root_display_name.clone()
        } else if self.options.root_display_name == "." {
            dir.to_string()
        } else {
            format!("{}/{dir}", self.options.root_display_name)
        }
    }

    fn function_ref(&self, function: &Function) -> FunctionRef {
        if !function.exec.is_empty() {
            return FunctionRef::Exec(function.exec.clone());
        }
        let image = &function.image;
        if image.contains('/') {
            FunctionRef::Image(image.clone())
        } else {
            FunctionRef::Image(format!("{}{image}", self.options.default_image_prefix))
        }
    }

    /// Runs one function like kpt's `FunctionRunner` + kyaml's `FunctionFilter`.
    fn run_function(
        &mut self,
        dir: &str,
        function: &Function,
        input: Vec<Node>,
        config: Option<Node>,
        display_count: bool,
        validator: bool,
    ) -> Result<Vec<Node>, String> {
        let function_ref = self.function_ref(function);
        let name = function_ref.display_name().to_string();
        self.log.push_str(&format!("[RUNNING] \"{name}\""));
        if display_count {
            self.log.push_str(&format!(" on {} resource(s)", input.len()));
        }
        self.log.push('\n');
        let start = Instant::now();
        let mut step = Step {
            function_ref: Some(function_ref.clone()),
            name: function.name.clone(),
            ..Step::default()
        };
        let result = self.call(dir, &function_ref, input, config, &mut step);
        let elapsed = go_duration(start.elapsed());
        let step_node = step.to_node(false);
        if validator {
            self.validation_steps.push(step.to_node(true));
        } else {
            self.mutation_steps.push(step.to_node(true));
        }
        self.results.push(step_node);
        match result {
            Ok(output) => {
                self.log.push_str(&format!("[PASS] \"{name}\" in {elapsed}\n"));
                self.log_results(&step.results);
                if !step.stderr.is_empty() {
                    self.log_lines(
                        "Stderr",
                        &step.stderr.split('\n').map(|l| format!("{l:?}")).collect::<Vec<_>>(),
                    );
                }
                Ok(output)
            }
            Err(message) => {
                self.exit_code = 1;
                self.log.push_str(&format!("[FAIL] \"{name}\" in {elapsed}\n"));
                self.log_results(&step.results);
                if step.exit_error {
                    if !step.stderr.is_empty() {
                        self.log_lines(
                            "Stderr",
                            &step.stderr.split('\n').map(|l| format!("{l:?}")).collect::<Vec<_>>(),
                        );
                    }
                    self.log.push_str(&format!("  Exit code: {}\n\n", step.exit_code));
                }
                self.error_summary.push(format!("{name}: exit code {}", step.exit_code));
                Err(message)
            }
        }
    }

    fn call(
        &mut self,
        dir: &str,
        function_ref: &FunctionRef,
        mut input: Vec<Node>,
        config: Option<Node>,
        step: &mut Step,
    ) -> Result<Vec<Node>, String> {
        let name = function_ref.display_name().to_string();
        are_krm(&input)
            .map_err(|e| format!("input resource list must contain only KRM resources: {e}"))?;
        // kyaml FunctionFilter: ids, ResourceList, run, read, copy comments back.
        let mut originals: BTreeMap<String, Node> = BTreeMap::new();
        for (i, resource) in input.iter_mut().enumerate() {
            let id = (i + 1).to_string();
            resource.set_annotation(kio::ID, &id);
            resource.set_annotation(kio::LEGACY_ID, &id);
            originals.insert(id, resource.clone());
        }
        // kyaml's ByteWriter: items are the documents' content, without empty annotations.
        let items: Vec<Node> = input
            .into_iter()
            .map(|mut item| {
                if item.kind == Kind::Document && !item.content.is_empty() {
                    item = item.content.swap_remove(0);
                }
                item.clear_empty_annotations();
                item
            })
            .collect();
        let config_node = config.as_ref().map(|c| c.inner().clone());
        let (mut nodes, results, exit_code, stderr) =
            match self.runtime.run_nodes(function_ref, items, config_node.as_ref()) {
                NodeRun::Done(Ok(output)) => {
                    let output = *output;
                    (output.items, output.results, output.exit_code, output.stderr)
                }
                NodeRun::Done(Err(e)) => return Err(runtime_error(function_ref, e, step)),
                NodeRun::Unsupported(items) => {
                    self.call_bytes(function_ref, &items, config.as_ref(), step)?
                }
            };
        step.stderr = stderr.clone();
        step.exit_code = exit_code;
        let output = crate::runtime::FunctionOutput { stdout: Vec::new(), stderr, exit_code };
        let wrapper = kio::Wrapper { results, ..kio::Wrapper::default() };
        for node in nodes.iter_mut() {
            let id = node
                .annotation(kio::ID)
                .or_else(|| node.annotation(kio::LEGACY_ID))
                .map(str::to_string);
            if let Some(id) = id
                && let Some(original) = originals.get(&id)
            {
                kio::copy_comments_and_sync_order(original, node);
                reconcile_path_annotations(original, node);
                node.clear_annotation(kio::ID);
                node.clear_annotation(kio::LEGACY_ID);
            }
        }
        if let Some(results) = &wrapper.results {
            step.results = normalize_results(results);
        }
        if output.exit_code != 0 {
            step.exit_error = true;
            let mut message =
                format!("function {name:?} failed with exit code {}", output.exit_code);
            let errors: Vec<String> = step
                .results
                .iter()
                .filter(|r| r.get_str(&["severity"]) == Some("error"))
                .map(result_line)
                .collect();
            if !errors.is_empty() {
                message.push_str(&format!(": {}", errors.join("; ")));
            }
            let stderr = output.stderr.trim();
            if !stderr.is_empty() {
                let lines: Vec<&str> = stderr.lines().take(10).collect();
                message.push_str(&format!("; stderr: {}", lines.join(" | ")));
            }
            return Err(message);
        }
        kio::default_path_annotation(&mut nodes);
        let pkg_path = package_path(dir);
        for node in nodes.iter_mut() {
            if node.annotation(kio::PACKAGE_PATH).unwrap_or("").is_empty() {
                node.set_annotation(kio::PACKAGE_PATH, &pkg_path);
            }
        }
        enforce_path_invariants(&nodes)?;
        are_krm(&nodes)
            .map_err(|e| format!("output resource list must contain only KRM resources: {e}"))?;
        Ok(nodes)
    }

    /// Runs a function through the `ResourceList` byte protocol and parses its output.
    #[allow(clippy::type_complexity)]
    fn call_bytes(
        &mut self,
        function_ref: &FunctionRef,
        input: &[Node],
        config: Option<&Node>,
        step: &mut Step,
    ) -> Result<(Vec<Node>, Option<Node>, i32, String), String> {
        let name = function_ref.display_name().to_string();
        let list = kio::encode_resource_list(input, config)
            .map_err(|e| format!("failed to encode the input of function {name:?}: {e}"))?;
        let output = match self.runtime.run(function_ref, list.as_bytes()) {
            Ok(output) => output,
            Err(e) => return Err(runtime_error(function_ref, e, step)),
        };
        step.stderr = output.stderr.clone();
        step.exit_code = output.exit_code;
        let text = match std::str::from_utf8(&output.stdout) {
            Ok(text) => text,
            Err(_) => {
                step.exit_code = if output.exit_code != 0 { output.exit_code } else { 1 };
                return Err(format!("function {name:?} wrote invalid output: not UTF-8 text"));
            }
        };
        let read = kio::read_stream(
            text,
            &kio::ReadOptions { annotations: Vec::new(), reader_annotations: false, unwrap: true },
        );
        let (nodes, wrapper) = match read {
            Ok(read) => read,
            Err(e) => {
                if output.exit_code == 0 {
                    step.exit_code = 1;
                }
                let mut message = format!("function {name:?} wrote invalid output: {e}");
                if output.exit_code != 0 {
                    message.push_str(&format!(" (exit code {})", output.exit_code));
                }
                return Err(message);
            }
        };
        if output.exit_code == 0 && !wrapper.wrapped && !text.trim().is_empty() {
            step.exit_code = 1;
            return Err(format!("function {name:?} wrote invalid output: expected a ResourceList"));
        }
        Ok((nodes, wrapper.results, output.exit_code, output.stderr))
    }

    fn log_results(&mut self, results: &[Node]) {
        if results.is_empty() {
            return;
        }
        let lines: Vec<String> = results.iter().map(result_line).collect();
        self.log_lines("Results", &lines);
    }

    fn log_lines(&mut self, title: &str, lines: &[String]) {
        self.log.push_str(&format!("  {title}:\n"));
        for line in lines.iter().take(TRUNCATE_LINES) {
            self.log.push_str(&format!("    {}\n", line.replace('\n', " ")));
        }
        if lines.len() > TRUNCATE_LINES {
            self.log.push_str(&format!(
                "    ...({} line(s) truncated, use '--truncate-output=false' to disable)\n",
                lines.len() - TRUNCATE_LINES
            ));
        }
    }

    /// Writes resources back to files (kpt's `adjustRelPath`, package writer and prune).
    /// The resources with their paths relative to the root package, as kpt writes them.
    fn root_relative(resources: &mut [Node]) {
        for resource in resources.iter_mut() {
            let pkg = resource.annotation(kio::PACKAGE_PATH).unwrap_or("/").to_string();
            let (path, _) = kio::file_annotations(resource);
            let dir = pkg.trim_start_matches('/').to_string();
            let new_path = kio::clean_path(&join(&dir, &kio::clean_path(&path)));
            resource.set_annotation(kio::PATH, &new_path);
            resource.set_annotation(kio::LEGACY_PATH, &new_path);
            resource.clear_annotation(kio::PACKAGE_PATH);
        }
    }

    /// kpt's `-o stdout`: a kyaml `ByteWriter` keeping the reader annotations.
    fn resource_list_yaml(&self, mut resources: Vec<Node>) -> Result<String, String> {
        Self::root_relative(&mut resources);
        kio::encode_resource_list(&resources, None)
            .map_err(|e| format!("failed to write resources: {e}"))
    }

    fn write(&self, resources: Vec<Node>, prune: bool) -> Result<Files, String> {
        let mut resources = resources;
        Self::root_relative(&mut resources);
        let output_files: BTreeSet<String> =
            resources.iter().map(|r| kio::clean_path(&kio::file_annotations(r).0)).collect();
        let written =
            kio::write_files(resources).map_err(|e| format!("failed to save resources: {e}"))?;
        let mut files = self.files.clone();
        if prune {
            for path in self.input_files.difference(&output_files) {
                files.remove(path);
            }
        }
        files.extend(written);
        Ok(files)
    }

    /// kpt ≥ beta.62: the `Rendered` condition and `renderStatus` in the root Kptfile.
    fn with_status(&self, mut files: Files, error: Option<&str>) -> Files {
        if !self.options.write_status {
            return files;
        }
        let Some(content) = files.get("Kptfile") else {
            return files;
        };
        let text = String::from_utf8_lossy(content).into_owned();
        let Ok(Some(mut kptfile)) = yaml::parse_document(&text) else {
            return files;
        };
        let mut condition = Node::mapping();
        condition.set_field("type", Node::string("Rendered"));
        condition.set_field("status", Node::string(if error.is_some() { "False" } else { "True" }));
        condition.set_field(
            "reason",
            Node::string(if error.is_some() { "RenderFailed" } else { "RenderSuccess" }),
        );
        if let Some(message) = error {
            condition.set_field("message", Node::string(message));
        }
        let Some(status) = kptfile.ensure_mapping(&["status"]) else {
            return files;
        };
        let mut conditions = match status.get("conditions") {
            Some(existing) if existing.kind == Kind::Sequence => existing.clone(),
            _ => Node::sequence(),
        };
        conditions.content.retain(|c| c.get_str(&["type"]) != Some("Rendered"));
        conditions.content.push(condition);
        status.set_field("conditions", conditions);
        let mut render_status = Node::mapping();
        if !self.mutation_steps.is_empty() {
            let mut steps = Node::sequence();
            steps.content = self.mutation_steps.clone();
            render_status.set_field("mutationSteps", steps);
        }
        if !self.validation_steps.is_empty() {
            let mut steps = Node::sequence();
            steps.content = self.validation_steps.clone();
            render_status.set_field("validationSteps", steps);
        }
        if !self.error_summary.is_empty() {
            render_status.set_field("errorSummary", Node::string(&self.error_summary.join(", ")));
        }
        if render_status.content.is_empty() {
            status.remove("renderStatus");
        } else {
            status.set_field("renderStatus", render_status);
        }
        let seq_indent = yaml::derive_seq_indent(&text);
        if let Ok(out) = yaml::emit(&[&kptfile], seq_indent) {
            files.insert("Kptfile".into(), out.into_bytes());
        }
        files
    }

    fn results_node(&self) -> Node {
        let mut list = Node::mapping();
        list.set_field("apiVersion", Node::string("kpt.dev/v1"));
        list.set_field("kind", Node::string("FunctionResultList"));
        let mut metadata = Node::mapping();
        metadata.set_field("name", Node::string("fnresults"));
        list.set_field("metadata", metadata);
        list.set_field("exitCode", Node::scalar(&self.exit_code.to_string()));
        if !self.results.is_empty() {
            let mut items = Node::sequence();
            items.content = self.results.clone();
            list.set_field("items", items);
        }
        list
    }
}

#[derive(Default)]
struct Step {
    function_ref: Option<FunctionRef>,
    name: String,
    stderr: String,
    exit_code: i32,
    exit_error: bool,
    results: Vec<Node>,
}

impl Step {
    /// A `fnresult.Result` (results file) or, with `status`, a render status step.
    fn to_node(&self, status: bool) -> Node {
        let mut node = Node::mapping();
        if status && !self.name.is_empty() {
            node.set_field("name", Node::string(&self.name));
        }
        match &self.function_ref {
            Some(FunctionRef::Image(image)) => node.set_field("image", Node::string(image)),
            Some(FunctionRef::Exec(exec)) => node.set_field("exec", Node::string(exec)),
            None => {}
        }
        if !self.stderr.is_empty() {
            node.set_field("stderr", Node::string(&self.stderr));
        }
        node.set_field("exitCode", Node::scalar(&self.exit_code.to_string()));
        if !self.results.is_empty() {
            let mut results = Node::sequence();
            results.content = self.results.clone();
            node.set_field("results", results);
            if status {
                let errors: Vec<Node> = self
                    .results
                    .iter()
                    .filter(|r| r.get_str(&["severity"]) == Some("error"))
                    .cloned()
                    .collect();
                if !errors.is_empty() {
                    let mut seq = Node::sequence();
                    seq.content = errors;
                    node.set_field("errorResults", seq);
                }
            }
        }
        node
    }
}

/// Reorders a function's result items into kpt's `framework.Result` field order, dropping empty
/// fields (what a Go round trip through the struct does).
fn normalize_results(results: &Node) -> Vec<Node> {
    let items = match results.kind {
        Kind::Sequence => results.content.clone(),
        Kind::Mapping => match results.get("items") {
            Some(items) if items.kind == Kind::Sequence => items.content.clone(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    items
        .iter()
        .map(|item| {
            let mut out = Node::mapping();
            copy_scalar(item, &mut out, "message");
            copy_scalar(item, &mut out, "severity");
            if let Some(reference) = item.get("resourceRef").filter(|r| r.kind == Kind::Mapping) {
                let mut r = Node::mapping();
                for key in ["apiVersion", "kind", "name", "namespace"] {
                    copy_scalar(reference, &mut r, key);
                }
                if let Some(metadata) = reference.get("metadata") {
                    for key in ["name", "namespace"] {
                        copy_scalar(metadata, &mut r, key);
                    }
                }
                if !r.content.is_empty() {
                    out.set_field("resourceRef", r);
                }
            }
            if let Some(field) = item.get("field").filter(|f| f.kind == Kind::Mapping) {
                let mut f = Node::mapping();
                copy_scalar(field, &mut f, "path");
                for key in ["currentValue", "proposedValue"] {
                    if let Some(v) = field.get(key).filter(|v| !v.is_null()) {
                        let mut v = v.clone();
                        clear_comments(&mut v);
                        f.set_field(key, v);
                    }
                }
                if let Some(v) = field.get("suggestedValue").filter(|v| !v.is_null())
                    && f.get("proposedValue").is_none()
                {
                    f.set_field("proposedValue", v.clone());
                }
                if !f.content.is_empty() {
                    out.set_field("field", f);
                }
            }
            if let Some(file) = item.get("file").filter(|f| f.kind == Kind::Mapping) {
                let mut f = Node::mapping();
                copy_scalar(file, &mut f, "path");
                if let Some(index) =
                    file.get("index").filter(|i| !i.value.is_empty() && i.value != "0")
                {
                    f.set_field("index", Node::scalar(&index.value));
                }
                if !f.content.is_empty() {
                    out.set_field("file", f);
                }
            }
            if let Some(tags) =
                item.get("tags").filter(|t| t.kind == Kind::Mapping && !t.content.is_empty())
            {
                let mut t = Node::mapping();
                let mut entries: Vec<(&Node, &Node)> = tags.entries().collect();
                entries.sort_by(|a, b| a.0.value.cmp(&b.0.value));
                for (k, v) in entries {
                    t.set_field(&k.value, Node::string(&v.value));
                }
                out.set_field("tags", t);
            }
            out
        })
        .collect()
}

fn copy_scalar(from: &Node, to: &mut Node, key: &str) {
    if let Some(v) = from.get(key)
        && v.kind == Kind::Scalar
        && !v.value.is_empty()
        && !v.is_null()
    {
        to.set_field(key, Node::string(v.value.trim()));
    }
}

fn clear_comments(node: &mut Node) {
    node.head_comment.clear();
    node.line_comment.clear();
    node.foot_comment.clear();
    node.style = Style(node.style.0 & !(Style::FLOW.0));
    for child in node.content.iter_mut() {
        clear_comments(child);
    }
}

/// `[severity] apiVersion/Kind/namespace/name field: message`, kyaml's `Result.String`.
fn runtime_error(function_ref: &FunctionRef, error: RuntimeError, step: &mut Step) -> String {
    step.exit_code = 1;
    match error {
        RuntimeError::NotFound(_) => match function_ref {
            FunctionRef::Exec(_) => ALLOW_EXEC_ERROR.to_string(),
            FunctionRef::Image(image) => {
                format!("function {image:?} is not available in this runtime")
            }
        },
        other => {
            step.stderr = other.to_string();
            other.to_string()
        }
    }
}

fn result_line(result: &Node) -> String {
    let severity = result.get_str(&["severity"]).filter(|s| !s.is_empty()).unwrap_or("info");
    let mut line = format!("[{severity}]");
    if let Some(reference) = result.get("resourceRef") {
        let parts: Vec<&str> = ["apiVersion", "kind", "namespace", "name"]
            .iter()
            .filter_map(|k| reference.get_str(&[k]))
            .filter(|v| !v.is_empty())
            .collect();
        if !parts.is_empty() {
            line.push(' ');
            line.push_str(&parts.join("/"));
        }
    }
    if let Some(path) = result.get_str(&["field", "path"]) {
        line.push(' ');
        line.push_str(path);
    }
    line.push_str(": ");
    line.push_str(result.get_str(&["message"]).unwrap_or(""));
    line
}

/// kpt's `NewConfigMap`: the inline `configMap` as a `function-input` ConfigMap.
fn config_map(data: &[(String, String)]) -> Node {
    let mut cm = yaml::parse_document(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: function-input\ndata: {}\n",
    )
    .ok()
    .flatten()
    .map(|d| d.inner().clone())
    .unwrap_or_else(Node::mapping);
    let mut map = Node::mapping();
    for (k, v) in data {
        map.content.push(Node { kind: Kind::Scalar, value: k.clone(), ..Node::default() });
        map.content.push(Node::string(v));
    }
    cm.set_field("data", map);
    cm
}

fn select(input: &[Node], selectors: &[Selector], exclude: &[Selector]) -> Vec<Node> {
    input
        .iter()
        .filter(|node| selectors.is_empty() || selectors.iter().any(|s| s.matches(node)))
        .filter(|node| !exclude.iter().any(|e| !e.is_empty() && e.matches(node)))
        .cloned()
        .collect()
}

/// kpt's `MergeWithInput`: untouched resources stay, selected ones are replaced by their output
/// (or dropped when the function deleted them), new ones are appended.
fn merge_with_input(output: Vec<Node>, selected: &[Node], input: Vec<Node>) -> Vec<Node> {
    let id = |n: &Node| n.annotation(RESOURCE_ID).unwrap_or("").to_string();
    let selected_ids: BTreeSet<String> = selected.iter().map(id).collect();
    let mut result = Vec::new();
    for resource in input {
        let rid = id(&resource);
        if !selected_ids.contains(&rid) {
            result.push(resource);
            continue;
        }
        if let Some(out) = output.iter().find(|o| id(o) == rid) {
            result.push(out.clone());
        }
    }
    result.extend(output.into_iter().filter(|o| id(o).is_empty()));
    result
}

/// kyaml's legacy/new path annotation reconciliation: when a function changed only one of the
/// two keys, that change wins.
fn reconcile_path_annotations(original: &Node, node: &mut Node) {
    for (new, legacy) in [(kio::PATH, kio::LEGACY_PATH), (kio::INDEX, kio::LEGACY_INDEX)] {
        let before = original.annotation(new).map(str::to_string);
        let now_new = node.annotation(new).map(str::to_string);
        let now_legacy = node.annotation(legacy).map(str::to_string);
        if now_new == now_legacy {
            continue;
        }
        if now_legacy != before
            && let Some(v) = &now_legacy
        {
            node.set_annotation(new, v);
        } else if now_new != before
            && let Some(v) = &now_new
        {
            node.set_annotation(legacy, v);
        }
    }
}

fn enforce_path_invariants(nodes: &[Node]) -> Result<(), String> {
    let mut seen: BTreeSet<(String, String, String)> = BTreeSet::new();
    for node in nodes {
        let pkg = node.annotation(kio::PACKAGE_PATH).unwrap_or("").to_string();
        let (path, index) = kio::file_annotations(node);
        let cleaned = kio::clean_path(&path);
        if cleaned.starts_with("../") {
            return Err(format!(
                "function must not modify resources outside of package: resource has path {path}"
            ));
        }
        if !seen.insert((pkg, cleaned.clone(), index.clone())) {
            return Err(format!("resource at path {cleaned:?} and index {index:?} already exists"));
        }
    }
    Ok(())
}

fn are_krm(nodes: &[Node]) -> Result<(), String> {
    for node in nodes {
        let (path, _) = kio::file_annotations(node);
        if node.api_version().is_empty() {
            return Err(format!("{path}: resource must have `apiVersion`"));
        }
        if node.kind_name().is_empty() {
            return Err(format!("{path}: resource must have `kind`"));
        }
        if node.name().is_empty() && node.inner().get("metadata").is_none() {
            return Err(format!("{path}: resource must have `metadata.name`"));
        }
    }
    Ok(())
}

fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn is_krm_file(base: &str) -> bool {
    base == "Kptfile"
        || base.ends_with(".yaml")
        || base.ends_with(".yml")
        || base.ends_with(".json")
}

/// Whether `path` is inside directory `dir` ("" is the root).
fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

fn join(dir: &str, path: &str) -> String {
    if dir.is_empty() { path.to_string() } else { format!("{dir}/{path}") }
}

/// The value of the package-path annotation: an absolute path in a virtual file system rooted
/// at "/" (kpt uses the package's absolute directory).
fn package_path(dir: &str) -> String {
    format!("/{dir}")
}

fn display_dir(dir: &str) -> String {
    if dir.is_empty() { ".".into() } else { format!("./{dir}") }
}

/// Go's `time.Duration.Truncate(100ms).String()`.
fn go_duration(elapsed: Duration) -> String {
    let ms = elapsed.as_millis() / 100 * 100;
    if ms == 0 {
        "0s".into()
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        let secs = ms as f64 / 1000.0;
        let mut s = format!("{secs:.1}");
        if s.ends_with(".0") {
            s.truncate(s.len() - 2);
        }
        format!("{s}s")
    }
}
