//! Typed Kptfile model (`kpt.dev/v1`, kptdev/kpt `pkg/api/kptfile/v1/types.go`), read from the
//! YAML layer; the one model of it, shared with the render engine (veranda-fn), which reads
//! its [`Pipeline`]. Edits of a Kptfile go through [`crate::yaml`] so that its comments stay;
//! this model is for reading and comparing.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::yaml;

mod pipeline;

pub use pipeline::{Function, Pipeline, Selector};

/// Errors reading a Kptfile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid Kptfile: {0}")]
    Yaml(#[from] yaml::Error),
    #[error("invalid Kptfile: {0}")]
    Shape(String),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kptfile {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub upstream: Option<Upstream>,
    pub upstream_lock: Option<UpstreamLock>,
    pub info: Option<Info>,
    pub pipeline: Option<Pipeline>,
    pub inventory: Option<Inventory>,
    pub status: Option<Status>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Upstream {
    /// `git` or `generic`.
    pub kind: String,
    pub git: Option<Git>,
    pub update_strategy: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Git {
    pub repo: String,
    pub directory: String,
    pub reference: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpstreamLock {
    pub kind: String,
    pub git: Option<crate::GitLock>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Info {
    pub site: String,
    pub emails: Vec<String>,
    pub license: String,
    pub license_file: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub man: String,
    pub readiness_gates: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    pub namespace: String,
    pub name: String,
    pub inventory_id: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// `status.conditions` as JSON objects.
    pub conditions: Vec<Json>,
    pub render_status: Option<Json>,
}

impl Kptfile {
    /// Parses a Kptfile.
    pub fn parse(content: &[u8]) -> Result<Kptfile, Error> {
        let text = std::str::from_utf8(content).map_err(|_| Error::Shape("not utf-8".into()))?;
        let docs = yaml::parse(text)?;
        let root = docs
            .iter()
            .find_map(|d| d.root.as_ref())
            .ok_or_else(|| Error::Shape("empty file".into()))?;
        if !root.is_mapping() {
            return Err(Error::Shape("top level must be a mapping".into()));
        }
        Ok(Kptfile::from_json(&root.to_json()))
    }

    fn from_json(v: &Json) -> Kptfile {
        let upstream = v.get("upstream").filter(|u| u.is_object()).map(|u| Upstream {
            kind: s(u, "type"),
            git: u.get("git").filter(|g| g.is_object()).map(|g| Git {
                repo: s(g, "repo"),
                directory: s(g, "directory"),
                reference: s(g, "ref"),
            }),
            update_strategy: s(u, "updateStrategy"),
        });
        let upstream_lock = v.get("upstreamLock").filter(|u| u.is_object()).map(|u| UpstreamLock {
            kind: s(u, "type"),
            git: u.get("git").filter(|g| g.is_object()).map(|g| crate::GitLock {
                repo: s(g, "repo"),
                directory: s(g, "directory"),
                reference: s(g, "ref"),
                commit: s(g, "commit"),
            }),
        });
        let info = v.get("info").filter(|i| i.is_object()).map(|i| Info {
            site: s(i, "site"),
            emails: strings(i.get("emails")),
            license: s(i, "license"),
            license_file: s(i, "licenseFile"),
            description: s(i, "description"),
            keywords: strings(i.get("keywords")),
            man: s(i, "man"),
            readiness_gates: list(i.get("readinessGates"))
                .iter()
                .map(|g| s(g, "conditionType"))
                .collect(),
        });
        let functions = |f: Option<&Json>| -> Vec<Function> {
            list(f)
                .iter()
                .map(|f| Function {
                    image: s(f, "image"),
                    exec: s(f, "exec"),
                    config_path: s(f, "configPath"),
                    config_map: f
                        .get("configMap")
                        .filter(|m| m.is_object())
                        .map(|m| map(Some(m)).into_iter().collect()),
                    name: s(f, "name"),
                    selectors: list(f.get("selectors"))
                        .iter()
                        .map(pipeline::selector_from_json)
                        .collect(),
                    exclude: list(f.get("exclude"))
                        .iter()
                        .map(pipeline::selector_from_json)
                        .collect(),
                })
                .collect()
        };
        let pipeline = v.get("pipeline").filter(|p| p.is_object()).map(|p| Pipeline {
            mutators: functions(p.get("mutators")),
            validators: functions(p.get("validators")),
        });
        let inventory = v.get("inventory").filter(|i| i.is_object()).map(|i| Inventory {
            namespace: s(i, "namespace"),
            name: s(i, "name"),
            inventory_id: s(i, "inventoryID"),
            labels: map(i.get("labels")),
            annotations: map(i.get("annotations")),
        });
        let status = v.get("status").filter(|x| x.is_object()).map(|x| Status {
            conditions: list(x.get("conditions")).to_vec(),
            render_status: x.get("renderStatus").cloned(),
        });
        let meta = v.get("metadata").cloned().unwrap_or(Json::Null);
        Kptfile {
            api_version: s(v, "apiVersion"),
            kind: s(v, "kind"),
            metadata: Metadata {
                name: s(&meta, "name"),
                namespace: s(&meta, "namespace"),
                labels: map(meta.get("labels")),
                annotations: map(meta.get("annotations")),
            },
            upstream,
            upstream_lock,
            info,
            pipeline,
            inventory,
            status,
        }
    }

    /// The upstream git location, when the package was fetched from git (`kpt pkg get`): such a
    /// package is "remote", one without it is an inline (local) subpackage.
    pub fn upstream_git(&self) -> Option<&Git> {
        self.upstream.as_ref()?.git.as_ref()
    }
}

fn text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn s(v: &Json, key: &str) -> String {
    v.get(key).and_then(text).unwrap_or_default()
}

fn list(v: Option<&Json>) -> &[Json] {
    v.and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn strings(v: Option<&Json>) -> Vec<String> {
    list(v).iter().filter_map(text).collect()
}

fn map(v: Option<&Json>) -> BTreeMap<String, String> {
    v.and_then(Json::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), text(v)?))).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
