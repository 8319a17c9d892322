//! `rpkg get`: the server's table of package revisions, filtered like porchctl's.

use serde_json::Value;

use super::output::{Format, Printer};
use super::{Failure, Global, Outcome};
use crate::kube::{Client, PORCH};

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// Package revision names (default: all).
    pub names: Vec<String>,
    /// Only revisions of this package.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Only revisions with this revision number (-1: the `main` revisions).
    #[arg(long, default_value_t = -2, allow_hyphen_values = true)]
    pub revision: i64,
    /// Only revisions with this workspace name.
    #[arg(long, default_value = "")]
    pub workspace: String,
    /// Print the root Kptfile of the one named revision.
    #[arg(long)]
    pub show_kptfile: bool,
    /// List revisions in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format: yaml, json, name, wide, custom-columns=…, jsonpath=….
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Print no header row.
    #[arg(long)]
    pub no_headers: bool,
}

/// The checks porchctl makes before it connects.
pub fn validate(global: &Global, args: &GetArgs) -> Outcome {
    if global.namespace.as_deref() == Some("") {
        return Err(Failure::Usage(
            "namespace flag specified without a value; please provide a value for --namespace/-n or omit the flag".into(),
        ));
    }
    if args.show_kptfile {
        if args.names.len() != 1 {
            return Err(Failure::Usage(
                "--show-kptfile requires exactly one package revision name as an argument".into(),
            ));
        }
        if !args.name.is_empty() || args.revision != -2 || !args.workspace.is_empty() {
            return Err(Failure::Usage(
                "--show-kptfile cannot be combined with --name, --revision, or --workspace".into(),
            ));
        }
        if args.all_namespaces {
            return Err(Failure::Usage(
                "--show-kptfile cannot be combined with --all-namespaces".into(),
            ));
        }
    }
    Ok(())
}

pub fn get(client: &Client, args: GetArgs) -> Outcome {
    if args.show_kptfile {
        return show_kptfile(client, &args.names[0]);
    }
    let format = Format::parse(args.output.as_deref())?;
    let collection = if args.all_namespaces {
        format!("{PORCH}/packagerevisions")
    } else {
        client.collection(PORCH, "packagerevisions")
    };
    let fetch =
        |path: &str| if format.wants_table() { client.get_table(path) } else { client.get(path) };
    let mut results = Vec::new();
    if args.names.is_empty() {
        let selector = field_selector(&args);
        let path = match selector {
            Some(s) => format!("{collection}?fieldSelector={}", crate::kube::encode(&s)),
            None => collection,
        };
        results.push(fetch(&path)?);
    } else {
        for name in &args.names {
            let path = client.object(PORCH, "packagerevisions", name);
            results.push(fetch(&path).map_err(|e| match e.code() {
                // What porchctl prints for a name the server does not know.
                Some(404) => Failure::Run(format!(
                    "the server could not find the requested resource (get packagerevisions.porch.kpt.dev {name})"
                )),
                _ => Failure::from(e),
            })?);
        }
    }
    let printer = Printer {
        format: &format,
        no_headers: args.no_headers,
        with_namespace: args.all_namespaces,
        kind_name: "packagerevision.porch.kpt.dev",
    };
    let text = if format.wants_table() {
        for table in &mut results {
            filter_rows(table, &args);
        }
        printer.tables(&results)
    } else {
        let mut objects = Vec::new();
        for result in results {
            match result["items"].as_array() {
                Some(items) if result["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                    objects.extend(items.iter().filter(|o| matches(o, &args)).cloned())
                }
                _ if matches(&result, &args) => objects.push(result),
                _ => {}
            }
        }
        printer.objects(&objects, args.names.len() == 1)?
    };
    print!("{text}");
    Ok(())
}

/// porchctl sends one selector term (the last of package, workspace, revision it was given)
/// and filters on all of them itself.
fn field_selector(args: &GetArgs) -> Option<String> {
    if !args.name.is_empty() {
        Some(format!("spec.packageName={}", args.name))
    } else if !args.workspace.is_empty() {
        Some(format!("spec.workspaceName={}", args.workspace))
    } else if args.revision != -2 {
        Some(format!("spec.revision={}", args.revision))
    } else {
        None
    }
}

fn matches(object: &Value, args: &GetArgs) -> bool {
    let spec = &object["spec"];
    (args.name.is_empty() || spec["packageName"].as_str() == Some(&args.name))
        && (args.revision == -2 || spec["revision"].as_i64().unwrap_or(0) == args.revision)
        && (args.workspace.is_empty() || spec["workspaceName"].as_str() == Some(&args.workspace))
}

fn filter_rows(table: &mut Value, args: &GetArgs) {
    let columns: Vec<String> = table["columnDefinitions"]
        .as_array()
        .map(|c| c.iter().map(|d| d["name"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default();
    let index = |name: &str| columns.iter().position(|c| c == name);
    let (package, revision, workspace) =
        (index("Package"), index("Revision"), index("WorkspaceName"));
    if let Some(rows) = table["rows"].as_array_mut() {
        rows.retain(|row| {
            let cell = |i: Option<usize>| i.map(|i| &row["cells"][i]);
            let ok_package = args.name.is_empty()
                || cell(package).and_then(Value::as_str).is_none_or(|p| p == args.name);
            let ok_revision = args.revision == -2
                || cell(revision).and_then(Value::as_i64).is_none_or(|r| r == args.revision);
            let ok_workspace = args.workspace.is_empty()
                || cell(workspace).and_then(Value::as_str).is_none_or(|w| w == args.workspace);
            ok_package && ok_revision && ok_workspace
        });
    }
}

fn show_kptfile(client: &Client, name: &str) -> Outcome {
    let resources = client.get(&client.object(PORCH, "packagerevisionresources", name))?;
    let Some(kptfile) = resources["spec"]["resources"]["Kptfile"].as_str() else {
        return Err(Failure::Run(format!(
            "package revision {name:?} does not contain a root Kptfile"
        )));
    };
    print!("{kptfile}");
    Ok(())
}
