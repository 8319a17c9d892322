//! kubectl's printers as porchctl uses them: the server's `Table` (default and `wide`),
//! `custom-columns=`, `jsonpath=`, `yaml`, `json` and `name`.

use serde_json::{Value, json};

use super::Failure;
use super::jsonpath::{self, Template};

/// An `-o` value.
pub enum Format {
    Table { wide: bool },
    Yaml,
    Json,
    Name,
    CustomColumns(Vec<(String, Template)>),
    JsonPath(Template),
}

impl Format {
    pub fn parse(value: Option<&str>) -> Result<Format, Failure> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(Format::Table { wide: false });
        };
        let bad = |m: String| Failure::Usage(m);
        Ok(match value {
            "wide" => Format::Table { wide: true },
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "name" => Format::Name,
            _ => {
                if let Some(spec) = value.strip_prefix("custom-columns=") {
                    let mut columns = Vec::new();
                    for column in split_columns(spec) {
                        let (name, path) = column.split_once(':').ok_or_else(|| {
                            bad(format!(
                                "custom-columns format specified but no custom columns given: \
                                 expected NAME:PATH, got {column:?}"
                            ))
                        })?;
                        let path = path.trim();
                        let expr = if path.starts_with('{') {
                            path.to_string()
                        } else {
                            format!("{{{path}}}")
                        };
                        let template = Template::parse(&expr).map_err(bad)?;
                        columns.push((name.to_string(), template));
                    }
                    if columns.is_empty() {
                        return Err(bad(
                            "custom-columns format specified but no custom columns given".into(),
                        ));
                    }
                    Format::CustomColumns(columns)
                } else if let Some(template) = value
                    .strip_prefix("jsonpath=")
                    .or_else(|| value.strip_prefix("jsonpath-as-json="))
                {
                    Format::JsonPath(Template::parse(template).map_err(bad)?)
                } else {
                    return Err(bad(format!(
                        "unable to match a printer suitable for the output format {value:?}, \
                         allowed formats are: custom-columns,json,jsonpath,name,wide,yaml"
                    )));
                }
            }
        })
    }

    /// Whether the server should answer with a `Table`.
    pub fn wants_table(&self) -> bool {
        matches!(self, Format::Table { .. })
    }
}

/// Splits `A:x,B:y[?(@.a=='b,c')]` on the commas that separate columns.
fn split_columns(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote = None;
    let mut current = String::new();
    for c in spec.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '{' | '(') => depth += 1,
            (None, ']' | '}' | ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Prints objects (a list's items, or the one object asked for by name).
pub struct Printer<'a> {
    pub format: &'a Format,
    pub no_headers: bool,
    pub with_namespace: bool,
    /// `packagerevision.porch.kpt.dev`, for `-o name`.
    pub kind_name: &'a str,
}

impl Printer<'_> {
    /// Formats `objects`; `single` when the user named exactly one object.
    pub fn objects(&self, objects: &[Value], single: bool) -> Result<String, Failure> {
        // porchctl prints each object it got (a list is flattened), not a List wrapper,
        // unless kubectl would (`-o yaml|json` of several objects).
        Ok(match self.format {
            Format::Yaml if single || objects.len() == 1 => yaml(&wrap(objects, true))?,
            Format::Yaml => {
                let docs: Result<Vec<String>, Failure> = objects.iter().map(yaml).collect();
                docs?.join("---\n")
            }
            Format::Json => json_text(&wrap(objects, single)),
            Format::Name => objects
                .iter()
                .map(|o| {
                    format!("{}/{}\n", self.kind_name, o["metadata"]["name"].as_str().unwrap_or(""))
                })
                .collect(),
            Format::JsonPath(template) => {
                let mut text = String::new();
                for object in objects {
                    text.push_str(&template.render(object).map_err(Failure::Usage)?);
                }
                if !text.is_empty() && !single {
                    text.push('\n');
                }
                text
            }
            Format::CustomColumns(columns) => {
                let mut rows = Vec::new();
                if !self.no_headers {
                    rows.push(columns.iter().map(|(n, _)| n.clone()).collect());
                }
                for object in objects {
                    rows.push(
                        columns
                            .iter()
                            .map(|(_, t)| {
                                let values = t.values(object);
                                if values.is_empty() {
                                    "<none>".to_string()
                                } else {
                                    values.iter().map(|v| cell(v)).collect::<Vec<_>>().join(",")
                                }
                            })
                            .collect(),
                    );
                }
                tabulate(&rows)
            }
            Format::Table { .. } => {
                return Err(Failure::Run("internal error: a table printed as objects".into()));
            }
        })
    }

    /// Prints a server `Table` (or several, one per request), as kubectl's table printer.
    pub fn tables(&self, tables: &[Value]) -> String {
        let wide = matches!(self.format, Format::Table { wide: true });
        let Some(first) = tables.first() else { return String::new() };
        let columns: Vec<(usize, String)> = first["columnDefinitions"]
            .as_array()
            .map(|c| c.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter(|(_, c)| wide || c["priority"].as_i64().unwrap_or(0) == 0)
            .map(|(i, c)| (i, c["name"].as_str().unwrap_or("").to_uppercase()))
            .collect();
        let mut rows: Vec<Vec<String>> = Vec::new();
        for table in tables {
            for row in table["rows"].as_array().map(|r| r.as_slice()).unwrap_or_default() {
                let cells = row["cells"].as_array().map(|c| c.as_slice()).unwrap_or_default();
                let mut line = Vec::new();
                if self.with_namespace {
                    let ns = row["object"]["metadata"]["namespace"].as_str().unwrap_or("");
                    line.push(ns.to_string());
                }
                for (i, _) in &columns {
                    line.push(cells.get(*i).map(cell).unwrap_or_default());
                }
                rows.push(line);
            }
        }
        if rows.is_empty() {
            return String::new();
        }
        if !self.no_headers {
            let mut header = Vec::new();
            if self.with_namespace {
                header.push("NAMESPACE".to_string());
            }
            header.extend(columns.iter().map(|(_, n)| n.clone()));
            rows.insert(0, header);
        }
        tabulate(&rows)
    }
}

fn wrap(objects: &[Value], single: bool) -> Value {
    if single && objects.len() == 1 {
        return objects[0].clone();
    }
    json!({"apiVersion": "v1", "items": objects, "kind": "List", "metadata": {"resourceVersion": ""}})
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "<none>".into(),
        other => jsonpath::text(other),
    }
}

/// Encodes as kubectl's `-o yaml` (keys sorted, sequences not indented).
pub fn yaml(value: &Value) -> Result<String, Failure> {
    serde_yaml::to_string(value).map_err(|e| Failure::Run(format!("encode YAML: {e}")))
}

fn json_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Go's `tabwriter` as kubectl configures it (min width 6, padding 3; the last column is not
/// padded).
pub fn tabulate(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max(cell.chars().count() + 3).max(6);
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabulates_like_kubectl() {
        let rows = vec![
            vec!["NAME".into(), "REV".into(), "LIFECYCLE".into()],
            vec!["git.lifecycle-package.lifecycle".into(), "<none>".into(), "Proposed".into()],
        ];
        assert_eq!(
            tabulate(&rows),
            "NAME                              REV      LIFECYCLE\n\
             git.lifecycle-package.lifecycle   <none>   Proposed\n"
        );
    }

    #[test]
    fn parses_custom_columns_with_filters() {
        let Format::CustomColumns(columns) = Format::parse(Some(
            "custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type=='Ready')].status",
        ))
        .map_err(|_| ())
        .expect("parse") else {
            panic!("not custom columns")
        };
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[1].0, "READY");
        assert!(Format::parse(Some("custom-columns=NAME")).is_err());
        assert!(Format::parse(Some("xml")).is_err());
    }
}
