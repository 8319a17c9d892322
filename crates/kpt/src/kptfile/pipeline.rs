//! The pipeline section of a Kptfile: the one model of it, which `kpt fn render` (veranda-fn)
//! runs and the upgrade reads. [`Pipeline::from_node`] reads it as kpt's Go types decode it
//! (wrong shapes are errors); [`super::Kptfile::parse`] reads it leniently.

use serde_json::Value as Json;
use veranda_yaml::{Kind, Node};

/// A resource selector of a function (`selectors`, `exclude`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

impl Selector {
    /// Whether the selector selects nothing in particular (kpt ignores such selectors).
    pub fn is_empty(&self) -> bool {
        self.api_version.is_empty()
            && self.kind.is_empty()
            && self.name.is_empty()
            && self.namespace.is_empty()
            && self.labels.is_empty()
            && self.annotations.is_empty()
    }

    /// Whether a resource matches every field the selector sets.
    pub fn matches(&self, node: &Node) -> bool {
        (self.name.is_empty() || self.name == node.name())
            && (self.namespace.is_empty() || self.namespace == node.namespace())
            && (self.kind.is_empty() || self.kind == node.kind_name())
            && (self.api_version.is_empty() || self.api_version == node.api_version())
            && self.labels.iter().all(|(k, v)| node.label(k) == Some(v.as_str()))
            && self.annotations.iter().all(|(k, v)| node.annotation(k) == Some(v.as_str()))
    }
}

/// A function of a pipeline; `config_map` keeps the order of the file (`None` when absent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Function {
    pub image: String,
    pub exec: String,
    pub config_path: String,
    pub config_map: Option<Vec<(String, String)>>,
    pub name: String,
    pub selectors: Vec<Selector>,
    pub exclude: Vec<Selector>,
}

/// `pipeline`: mutators, then validators.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    pub mutators: Vec<Function>,
    pub validators: Vec<Function>,
}

impl Pipeline {
    /// The pipeline of a Kptfile as `kpt fn render` reads it: shapes kpt's Go types cannot
    /// decode are errors.
    pub fn from_node(kptfile: &Node) -> Result<Pipeline, String> {
        let mut pipeline = Pipeline::default();
        let Some(node) = kptfile.get("pipeline") else {
            return Ok(pipeline);
        };
        if node.is_null() {
            return Ok(pipeline);
        }
        for (field, target) in
            [("mutators", &mut pipeline.mutators), ("validators", &mut pipeline.validators)]
        {
            let Some(list) = node.get(field) else {
                continue;
            };
            if list.is_null() {
                continue;
            }
            if list.kind != Kind::Sequence {
                return Err(format!("pipeline.{field} must be a list"));
            }
            for item in &list.content {
                target.push(parse_function(item)?);
            }
        }
        Ok(pipeline)
    }
}

fn parse_function(node: &Node) -> Result<Function, String> {
    if node.kind != Kind::Mapping {
        return Err("pipeline function must be a mapping".into());
    }
    let text = |key: &str| node.get_str(&[key]).unwrap_or("").to_string();
    let mut function = Function {
        image: text("image"),
        exec: text("exec"),
        config_path: text("configPath"),
        name: text("name"),
        ..Function::default()
    };
    if let Some(map) = node.get("configMap").filter(|m| !m.is_null()) {
        if map.kind != Kind::Mapping {
            return Err("configMap must be a map of strings".into());
        }
        function.config_map =
            Some(map.entries().map(|(k, v)| (k.value.clone(), v.value.clone())).collect());
    }
    for (field, target) in
        [("selectors", &mut function.selectors), ("exclude", &mut function.exclude)]
    {
        if let Some(list) = node.get(field).filter(|l| l.kind == Kind::Sequence) {
            for item in &list.content {
                let pairs = |key: &str| {
                    item.get(key)
                        .filter(|m| m.kind == Kind::Mapping)
                        .map(|m| {
                            m.entries().map(|(k, v)| (k.value.clone(), v.value.clone())).collect()
                        })
                        .unwrap_or_default()
                };
                target.push(Selector {
                    api_version: item.get_str(&["apiVersion"]).unwrap_or("").into(),
                    kind: item.get_str(&["kind"]).unwrap_or("").into(),
                    name: item.get_str(&["name"]).unwrap_or("").into(),
                    namespace: item.get_str(&["namespace"]).unwrap_or("").into(),
                    labels: pairs("labels"),
                    annotations: pairs("annotations"),
                });
            }
        }
    }
    Ok(function)
}

/// A selector from the lenient JSON reading of a Kptfile.
pub(super) fn selector_from_json(v: &Json) -> Selector {
    let s = |k: &str| v.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
    let pairs = |k: &str| -> Vec<(String, String)> {
        v.get(k)
            .and_then(Json::as_object)
            .map(|m| {
                m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()
            })
            .unwrap_or_default()
    };
    Selector {
        api_version: s("apiVersion"),
        kind: s("kind"),
        name: s("name"),
        namespace: s("namespace"),
        labels: pairs("labels"),
        annotations: pairs("annotations"),
    }
}
