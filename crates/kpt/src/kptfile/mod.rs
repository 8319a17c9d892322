//! Typed Kptfile model (`kpt.dev/v1`, kptdev/kpt `pkg/api/kptfile/v1/types.go`), read from
//! veranda-yaml's nodes; the one model of it, shared with the render engine (veranda-fn), which
//! reads its [`Pipeline`]. Edits of a Kptfile work on the nodes themselves so that its comments
//! stay (see [`crate::set_upstream`]); this model is for reading and comparing.

use std::collections::BTreeMap;

use serde_json::Value as Json;

mod pipeline;

pub use pipeline::{Function, Pipeline, Selector};

/// Errors reading a Kptfile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not valid YAML (or exceeds veranda-yaml's limits).
    #[error("invalid Kptfile: {0}")]
    Yaml(#[from] veranda_yaml::Error),
    /// The file is YAML but not a Kptfile: not UTF-8, empty, or not a mapping.
    #[error("invalid Kptfile: {0}")]
    Shape(String),
}

/// A Kptfile, field by field (`kpt.dev/v1` `KptFile`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kptfile {
    /// `apiVersion` (`kpt.dev/v1`).
    pub api_version: String,
    /// `kind` (`Kptfile`).
    pub kind: String,
    /// `metadata`.
    pub metadata: Metadata,
    /// `upstream`: where the package was fetched from.
    pub upstream: Option<Upstream>,
    /// `upstreamLock`: the commit it was fetched at.
    pub upstream_lock: Option<UpstreamLock>,
    /// `info`.
    pub info: Option<Info>,
    /// `pipeline`: the functions render runs.
    pub pipeline: Option<Pipeline>,
    /// `inventory`.
    pub inventory: Option<Inventory>,
    /// `status`.
    pub status: Option<Status>,
}

/// `metadata` of a Kptfile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    /// `name` (the package name).
    pub name: String,
    /// `namespace`.
    pub namespace: String,
    /// `labels`, with scalar values as text.
    pub labels: BTreeMap<String, String>,
    /// `annotations`, with scalar values as text.
    pub annotations: BTreeMap<String, String>,
}

/// `upstream` of a Kptfile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Upstream {
    /// `git` or `generic`.
    pub kind: String,
    /// `git`: repository, directory and ref.
    pub git: Option<Git>,
    /// `updateStrategy` (empty: resource-merge).
    pub update_strategy: String,
}

/// `upstream.git` of a Kptfile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Git {
    /// `repo`: the repository URL.
    pub repo: String,
    /// `directory`: the package's directory in it.
    pub directory: String,
    /// `ref`: branch, tag or commit.
    pub reference: String,
}

/// `upstreamLock` of a Kptfile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpstreamLock {
    /// `type` (`git`).
    pub kind: String,
    /// `git`: repository, directory, ref and commit.
    pub git: Option<crate::GitLock>,
}

/// `info` of a Kptfile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Info {
    /// `site`.
    pub site: String,
    /// `emails`.
    pub emails: Vec<String>,
    /// `license`.
    pub license: String,
    /// `licenseFile`.
    pub license_file: String,
    /// `description`.
    pub description: String,
    /// `keywords`.
    pub keywords: Vec<String>,
    /// `man`.
    pub man: String,
    /// The `conditionType` of each of `readinessGates`.
    pub readiness_gates: Vec<String>,
}

/// `inventory` of a Kptfile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    /// `namespace`.
    pub namespace: String,
    /// `name`.
    pub name: String,
    /// `inventoryID`.
    pub inventory_id: String,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// `status` of a Kptfile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// `status.conditions` as JSON objects.
    pub conditions: Vec<Json>,
    /// `status.renderStatus`, as JSON.
    pub render_status: Option<Json>,
}

impl Kptfile {
    /// Parses a Kptfile.
    pub fn parse(content: &[u8]) -> Result<Kptfile, Error> {
        let text = std::str::from_utf8(content).map_err(|_| Error::Shape("not utf-8".into()))?;
        let docs = crate::resource::parse_yaml(text)?;
        let root =
            docs.iter().find_map(|d| d.root()).ok_or_else(|| Error::Shape("empty file".into()))?;
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
