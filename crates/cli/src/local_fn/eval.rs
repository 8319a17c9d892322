//! `veranda fn eval`: one function over a package's resources, kpt fn eval's flags.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use veranda_fn::{FunctionRef, Selector};

use super::CommonArgs;

/// `veranda fn eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The package directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The function image (a name without registry gets the catalog's prefix).
    #[arg(long, short = 'i', conflicts_with = "exec", required_unless_present = "exec")]
    image: Option<String>,
    /// A local program to run as the function (with its arguments).
    #[arg(long)]
    exec: Option<String>,
    /// The functionConfig: a file with one KRM resource.
    #[arg(long, value_name = "FILE")]
    fn_config: Option<PathBuf>,
    /// Rejected as kpt rejects it: meta resources are always included.
    #[arg(long, short = 'm', hide = true)]
    include_meta_resources: bool,
    /// Select resources with this apiVersion.
    #[arg(long)]
    match_api_version: Option<String>,
    /// Select resources of this kind.
    #[arg(long)]
    match_kind: Option<String>,
    /// Select resources with this name.
    #[arg(long)]
    match_name: Option<String>,
    /// Select resources in this namespace.
    #[arg(long)]
    match_namespace: Option<String>,
    /// Exclude resources with this apiVersion.
    #[arg(long)]
    exclude_api_version: Option<String>,
    /// Exclude resources of this kind.
    #[arg(long)]
    exclude_kind: Option<String>,
    /// Exclude resources with this name.
    #[arg(long)]
    exclude_name: Option<String>,
    /// Exclude resources in this namespace.
    #[arg(long)]
    exclude_namespace: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
    /// `KEY=VALUE` pairs after `--`: the data of a `function-input` ConfigMap given as the
    /// functionConfig (a first argument without `=` is the functionConfig's kind).
    #[arg(last = true, value_name = "KEY=VALUE")]
    data: Vec<String>,
}

fn selector(
    api_version: &Option<String>,
    kind: &Option<String>,
    name: &Option<String>,
    namespace: &Option<String>,
) -> Selector {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    Selector {
        api_version: text(api_version),
        kind: text(kind),
        name: text(name),
        namespace: text(namespace),
        ..Selector::default()
    }
}

pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    if args.include_meta_resources {
        bail!(
            "--include-meta-resources is no longer necessary because meta resources are now included by default"
        );
    }
    let common = &args.common;
    common.prepare_results_dir()?;
    let (function, allow_exec) = match (&args.image, &args.exec) {
        (Some(image), _) => (FunctionRef::Image(image.clone()), common.allow_exec),
        (None, Some(exec)) => (FunctionRef::Exec(exec.clone()), true),
        (None, None) => bail!("must specify --image or --exec"),
    };
    let config = match &args.fn_config {
        Some(_) if !args.data.is_empty() => {
            bail!("function config file and KEY=VALUE arguments cannot be used together")
        }
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("missing function config file: {}", path.display()))?,
        ),
        None => function_input(&args.data)?,
    };
    let (root, name) = super::package_dir(&args.dir)?;
    let runtime = common.runtime(allow_exec)?;
    let files = super::disk::read_package(&root)?;
    let select = selector(
        &args.match_api_version,
        &args.match_kind,
        &args.match_name,
        &args.match_namespace,
    );
    let exclude = selector(
        &args.exclude_api_version,
        &args.exclude_kind,
        &args.exclude_name,
        &args.exclude_namespace,
    );
    let outcome = veranda_fn::eval_selected(
        &files,
        &runtime,
        &function,
        config.as_deref(),
        &select,
        &exclude,
        &super::options(name, allow_exec),
    );
    super::finish(&root, &files, &outcome, common, true)
}

/// kpt's `function-input` ConfigMap from `-- KEY=VALUE` arguments (every value a string).
fn function_input(data: &[String]) -> anyhow::Result<Option<String>> {
    let mut kind = "ConfigMap".to_string();
    let mut entries = Vec::new();
    for (i, item) in data.iter().enumerate() {
        match item.split_once('=') {
            Some((key, value)) => entries.push((key, value)),
            None if i == 0 => kind = item.clone(),
            None => bail!("args must have keys and values separated by ="),
        }
    }
    let mut text = String::from("metadata:\n  name: function-input\n");
    if entries.is_empty() {
        text.push_str("data: {}\n");
    } else {
        text.push_str("data:\n");
        for (key, value) in entries {
            text.push_str(&format!("  {}: {}\n", quoted(key), quoted(value)));
        }
    }
    text.push_str(&format!("kind: {}\napiVersion: v1\n", quoted(&kind)));
    Ok(Some(text))
}

/// A YAML double-quoted scalar (always a string, any character).
fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
