//! `apply-replacements` (catalog v0.1.2): kustomize's replacement filter. Copies a field of a
//! source resource into fields of target resources selected by id, labels or annotations,
//! with `delimiter`/`index` and `create` options and kyaml path syntax
//! (`spec.containers.[name=app].image`, `*`, list indices).

use regex::Regex;

use super::{FnResult, result};
use crate::yaml::{Kind, Node};

const DEFAULT_FIELD_PATH: &str = "metadata.name";

#[derive(Clone, Debug, Default)]
struct ResId {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
}

#[derive(Clone, Debug, Default)]
struct Options {
    delimiter: String,
    index: i64,
    create: bool,
}

#[derive(Clone, Debug, Default)]
struct Selector {
    id: ResId,
    annotation_selector: String,
    label_selector: String,
}

#[derive(Clone, Debug, Default)]
struct Target {
    select: Option<Selector>,
    reject: Vec<Selector>,
    field_paths: Vec<String>,
    options: Option<Options>,
}

#[derive(Clone, Debug, Default)]
struct Replacement {
    source: Option<(ResId, String, Option<Options>)>,
    targets: Option<Vec<Target>>,
}

pub(crate) fn run(mut items: Vec<Node>, config: Option<&Node>) -> FnResult {
    let fail = |items: Vec<Node>, message: String| FnResult {
        items,
        results: vec![result(&message, "error")],
        error: true,
        stderr: "failed to evaluate function: error: function failure\n".into(),
    };
    let replacements = match parse_config(config) {
        Ok(r) => r,
        Err(message) => return fail(items, message),
    };
    for replacement in &replacements {
        if let Err(message) = apply(&mut items, replacement) {
            return fail(items, message);
        }
    }
    FnResult { items, results: Vec::new(), error: false, stderr: String::new() }
}

fn parse_config(config: Option<&Node>) -> Result<Vec<Replacement>, String> {
    let Some(config) =
        config.map(Node::inner).filter(|c| c.kind == Kind::Mapping && !c.content.is_empty())
    else {
        return Err("FunctionConfig is missing. Expect `ApplyReplacements`".into());
    };
    if config.kind_name() != "ApplyReplacements" || config.api_version() != "fn.kpt.dev/v1alpha1" {
        return Err(format!(
            "received functionConfig of kind {} and apiVersion {}, only functionConfig of kind ApplyReplacements and apiVersion fn.kpt.dev/v1alpha1 is supported",
            config.kind_name(),
            config.api_version()
        ));
    }
    let mut out = Vec::new();
    if let Some(list) = config.get("replacements").filter(|l| l.kind == Kind::Sequence) {
        for item in &list.content {
            let source = item.get("source").filter(|s| s.kind == Kind::Mapping).map(|s| {
                (
                    res_id(s),
                    s.get_str(&["fieldPath"]).unwrap_or("").to_string(),
                    s.get("options").map(options),
                )
            });
            let targets = item.get("targets").filter(|t| t.kind == Kind::Sequence).map(|t| {
                t.content
                    .iter()
                    .map(|t| Target {
                        select: t.get("select").filter(|s| s.kind == Kind::Mapping).map(selector),
                        reject: t
                            .get("reject")
                            .filter(|r| r.kind == Kind::Sequence)
                            .map(|r| r.content.iter().map(selector).collect())
                            .unwrap_or_default(),
                        field_paths: t
                            .get("fieldPaths")
                            .filter(|f| f.kind == Kind::Sequence)
                            .map(|f| f.content.iter().map(|p| p.value.clone()).collect())
                            .unwrap_or_default(),
                        options: t.get("options").map(options),
                    })
                    .collect()
            });
            out.push(Replacement { source, targets });
        }
    }
    Ok(out)
}

fn res_id(node: &Node) -> ResId {
    let text = |k: &str| node.get_str(&[k]).unwrap_or("").to_string();
    ResId {
        group: text("group"),
        version: text("version"),
        kind: text("kind"),
        name: text("name"),
        namespace: text("namespace"),
    }
}

fn selector(node: &Node) -> Selector {
    Selector {
        id: res_id(node),
        annotation_selector: node.get_str(&["annotationSelector"]).unwrap_or("").into(),
        label_selector: node.get_str(&["labelSelector"]).unwrap_or("").into(),
    }
}

fn options(node: &Node) -> Options {
    Options {
        delimiter: node.get_str(&["delimiter"]).unwrap_or("").into(),
        index: node.get_str(&["index"]).and_then(|i| i.parse().ok()).unwrap_or(0),
        create: node.get_str(&["create"]) == Some("true"),
    }
}

fn id_of(node: &Node) -> ResId {
    let api_version = node.api_version();
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    };
    ResId {
        group,
        version,
        kind: node.kind_name().into(),
        name: node.name().into(),
        namespace: node.namespace().into(),
    }
}

fn ns_equal(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        if s.is_empty() || s == "default" { "default".to_string() } else { s.to_string() }
    };
    norm(a) == norm(b)
}

fn is_selected_by(id: &ResId, selector: &ResId) -> bool {
    (selector.name.is_empty() || selector.name == id.name)
        && (selector.namespace.is_empty() || ns_equal(&selector.namespace, &id.namespace))
        && (selector.group.is_empty() || selector.group == id.group)
        && (selector.version.is_empty() || selector.version == id.version)
        && (selector.kind.is_empty() || selector.kind == id.kind)
}

fn id_string(id: &ResId) -> String {
    let or = |v: &str, d: &str| if v.is_empty() { d.to_string() } else { v.to_string() };
    format!(
        "{}.{}.{}/{}.{}",
        or(&id.kind, "[noKind]"),
        or(&id.version, "[noVer]"),
        or(&id.group, "[noGrp]"),
        or(&id.name, "[noName]"),
        or(&id.namespace, "[noNs]")
    )
}

fn apply(items: &mut [Node], replacement: &Replacement) -> Result<(), String> {
    let (Some((source_id, field_path, source_options)), Some(targets)) =
        (&replacement.source, &replacement.targets)
    else {
        return Err("replacements must specify a source and at least one target".into());
    };
    let matches: Vec<usize> =
        (0..items.len()).filter(|&i| is_selected_by(&id_of(&items[i]), source_id)).collect();
    let selector_string = {
        let mut s = id_string(source_id);
        if !field_path.is_empty() {
            s.push(':');
            s.push_str(field_path);
        }
        s
    };
    if matches.len() > 1 {
        return Err(format!("multiple matches for selector {selector_string}"));
    }
    let Some(&source_index) = matches.first() else {
        return Err(format!("nothing selected by {selector_string}"));
    };
    let field_path =
        if field_path.is_empty() { DEFAULT_FIELD_PATH.to_string() } else { field_path.clone() };
    let path = split_path(&field_path);
    let mut found = None;
    lookup(items[source_index].inner(), &path, &mut found);
    let value = match found {
        Some(v) if !(v.is_null() || (v.kind != Kind::Scalar && v.content.is_empty())) => v,
        _ => {
            return Err(format!(
                "fieldPath `{field_path}` is missing for replacement source {}",
                id_string(source_id)
            ));
        }
    };
    let value = refine(source_options.as_ref(), value)?;
    for target in targets {
        let Some(select) = &target.select else {
            return Err("target must specify resources to select".into());
        };
        let field_paths = if target.field_paths.is_empty() {
            vec![DEFAULT_FIELD_PATH.to_string()]
        } else {
            target.field_paths.clone()
        };
        for item in items.iter_mut() {
            if !matches_selectors(item, select)? {
                continue;
            }
            let mut rejected = false;
            for reject in &target.reject {
                if (!reject.annotation_selector.is_empty() || !reject.label_selector.is_empty())
                    && matches_selectors(item, reject)?
                {
                    rejected = true;
                }
            }
            if rejected {
                continue;
            }
            let id = id_of(item);
            let reject_id =
                target.reject.iter().any(|r| !is_empty_id(&r.id) && is_selected_by(&id, &r.id));
            if !is_selected_by(&id, &select.id) || reject_id {
                continue;
            }
            for field_path in &field_paths {
                let create =
                    target.options.as_ref().is_some_and(|o| o.create).then_some(value.kind);
                let path = split_path(field_path);
                let mut count = 0;
                let mut error = None;
                path_match(item.inner_mut(), &path, create, &mut |t: &mut Node| {
                    count += 1;
                    if let Err(e) = set_field_value(target.options.as_ref(), t, &value) {
                        error = Some(e);
                    }
                })?;
                if let Some(e) = error {
                    return Err(e);
                }
                if count == 0 {
                    return Err(if create.is_some() {
                        format!(
                            "unable to find or create field {field_path:?} in replacement target"
                        )
                    } else {
                        format!("unable to find field {field_path:?} in replacement target")
                    });
                }
            }
        }
    }
    Ok(())
}

fn is_empty_id(id: &ResId) -> bool {
    id.group.is_empty()
        && id.version.is_empty()
        && id.kind.is_empty()
        && id.name.is_empty()
        && id.namespace.is_empty()
}

fn matches_selectors(item: &Node, selector: &Selector) -> Result<bool, String> {
    Ok(label_selector_matches(&item.string_map("annotations"), &selector.annotation_selector)?
        && label_selector_matches(&item.string_map("labels"), &selector.label_selector)?)
}

/// Equality-based Kubernetes label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`).
fn label_selector_matches(map: &[(String, String)], selector: &str) -> Result<bool, String> {
    let get = |k: &str| map.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    for requirement in split_requirements(selector) {
        let r = requirement.trim();
        if r.is_empty() {
            continue;
        }
        let ok = if let Some((k, v)) = r.split_once("!=") {
            get(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = r.split_once("==").or_else(|| r.split_once('=')) {
            get(k.trim()) == Some(v.trim())
        } else if let Some((k, rest)) = r.split_once(" notin ") {
            let values: Vec<&str> = rest
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(str::trim)
                .collect();
            get(k.trim()).is_none_or(|v| !values.contains(&v))
        } else if let Some((k, rest)) = r.split_once(" in ") {
            let values: Vec<&str> = rest
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(str::trim)
                .collect();
            get(k.trim()).is_some_and(|v| values.contains(&v))
        } else if let Some(k) = r.strip_prefix('!') {
            get(k.trim()).is_none()
        } else {
            get(r).is_some()
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn split_requirements(selector: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out
}

fn refine(options: Option<&Options>, value: Node) -> Result<Node, String> {
    let Some(options) = options.filter(|o| !o.delimiter.is_empty()) else {
        return Ok(value);
    };
    if value.kind != Kind::Scalar {
        return Err("delimiter option can only be used with scalar nodes".into());
    }
    let parts: Vec<&str> = value.value.split(options.delimiter.as_str()).collect();
    if options.index < 0 || options.index as usize >= parts.len() {
        return Err(format!(
            "options.index {} is out of bounds for value {}",
            options.index, value.value
        ));
    }
    let mut refined = value.clone();
    refined.value = parts[options.index as usize].to_string();
    Ok(refined)
}

fn set_field_value(
    options: Option<&Options>,
    target: &mut Node,
    value: &Node,
) -> Result<(), String> {
    let mut value = value.clone();
    if let Some(options) = options.filter(|o| !o.delimiter.is_empty()) {
        if target.kind != Kind::Scalar {
            return Err("delimiter option can only be used with scalar nodes".into());
        }
        let mut parts: Vec<String> =
            target.value.split(options.delimiter.as_str()).map(str::to_string).collect();
        let v = value.value.clone();
        if options.index < 0 {
            parts.insert(0, v);
        } else if options.index as usize >= parts.len() {
            parts.push(v);
        } else {
            parts[options.index as usize] = v;
        }
        value.value = parts.join(&options.delimiter);
    }
    if target.kind == Kind::Scalar {
        target.value = value.value;
    } else {
        *target = value;
    }
    Ok(())
}

/// kyaml `SmarterPathSplitter`: splits on `.` outside `[...]`.
fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out
}

fn is_list_index(part: &str) -> bool {
    part.starts_with('[') && part.ends_with(']') && part.contains('=')
}

fn field_name(part: &str) -> &str {
    if part.starts_with('[') && part.ends_with(']') && !part.contains('=') {
        &part[1..part.len() - 1]
    } else {
        part
    }
}

/// Read-only `Lookup` of a source field (the first match).
fn lookup(node: &Node, path: &[String], found: &mut Option<Node>) {
    let Some((first, rest)) = path.split_first() else {
        *found = Some(node.clone());
        return;
    };
    if is_list_index(first) {
        let Some((field, value)) = first[1..first.len() - 1].split_once('=') else {
            return;
        };
        for item in &node.content {
            let matched = if field.is_empty() {
                item.kind == Kind::Scalar && item.value == value
            } else {
                item.get(field).is_some_and(|v| v.value == value)
            };
            if matched {
                lookup(item, rest, found);
                return;
            }
        }
        return;
    }
    if let Ok(index) = first.parse::<usize>()
        && node.kind == Kind::Sequence
    {
        if let Some(item) = node.content.get(index) {
            lookup(item, rest, found);
        }
        return;
    }
    if let Some(child) = node.get(field_name(first)) {
        lookup(child, rest, found);
    }
}

fn path_part_kind(next: Option<&String>, create: Kind) -> Kind {
    match next {
        None => create,
        Some(p) if is_list_index(p) || p.parse::<usize>().is_ok() || p == "-" => Kind::Sequence,
        Some(_) => Kind::Mapping,
    }
}

fn new_node(kind: Kind) -> Node {
    Node { kind, ..Node::default() }
}

/// kyaml `PathMatcher`: calls `f` on every node matching the path, creating missing fields
/// (of kind `create` at the end) when asked.
fn path_match(
    node: &mut Node,
    path: &[String],
    create: Option<Kind>,
    f: &mut dyn FnMut(&mut Node),
) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        f(node);
        return Ok(());
    };
    if let Ok(index) = first.parse::<usize>() {
        if node.kind != Kind::Sequence {
            return Err(format!(
                "wrong node kind: expected SequenceNode but got {:?}Node",
                node.kind
            ));
        }
        if node.content.len() == index
            && let Some(kind) = create
        {
            node.content.push(new_node(path_part_kind(rest.first(), kind)));
        }
        if node.content.len() < index + 1 {
            return Err(format!(
                "index {index} specified but only {} elements found",
                node.content.len()
            ));
        }
        return path_match(&mut node.content[index], rest, create, f);
    }
    if is_list_index(first) {
        let (field, pattern) = first[1..first.len() - 1].split_once('=').unwrap_or(("", ""));
        let regex = Regex::new(pattern).map_err(|e| e.to_string())?;
        if node.kind != Kind::Sequence {
            return Ok(());
        }
        let mut matched = false;
        for item in node.content.iter_mut() {
            let text = if field.is_empty() {
                (item.kind == Kind::Scalar).then(|| item.value.clone())
            } else {
                item.get(field).map(|v| v.value.clone())
            };
            if let Some(text) = text
                && regex.is_match(text.trim())
            {
                matched = true;
                path_match(item, rest, create, f)?;
            }
        }
        if !matched && create.is_some() {
            let value = Node::scalar(pattern);
            if field.is_empty() {
                node.content.push(value);
            } else {
                let mut elem = Node { kind: Kind::Mapping, ..Node::default() };
                elem.content.push(Node {
                    kind: Kind::Scalar,
                    value: field.to_string(),
                    ..Node::default()
                });
                elem.content.push(value);
                node.content.push(elem);
            }
            return path_match(node, path, create, f);
        }
        return Ok(());
    }
    if first == "*" {
        for item in node.content.iter_mut() {
            path_match(item, rest, create, f)?;
        }
        return Ok(());
    }
    let name = field_name(first);
    if node.kind != Kind::Mapping {
        return Ok(());
    }
    match node.field_index(name) {
        Some(idx) => path_match(&mut node.content[idx + 1], rest, create, f),
        None => {
            let Some(kind) = create else {
                return Ok(());
            };
            node.set_field(name, new_node(path_part_kind(rest.first(), kind)));
            let idx = node.field_index(name).unwrap_or(0);
            path_match(&mut node.content[idx + 1], rest, create, f)
        }
    }
}
