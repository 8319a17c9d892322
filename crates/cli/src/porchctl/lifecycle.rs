//! `rpkg propose|approve|reject|delete|propose-delete`: one line per name, porchctl's
//! `errors:` summary, and re-read-and-retry on optimistic-lock conflicts.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Outcome, summarize};
use crate::kube::{self, Client, PORCH};

#[derive(clap::Args, Debug)]
pub struct Names {
    /// Package revision names.
    pub names: Vec<String>,
}

/// client-go's `retry.DefaultRetry`: five attempts, about 10 ms apart.
const ATTEMPTS: u32 = 5;
const BACKOFF: Duration = Duration::from_millis(10);

/// What one attempt did.
enum Step {
    /// Succeeded; the line to print on stdout.
    Done(String),
    /// Nothing to do; the line to print on stderr.
    Already(String),
}

/// Runs `attempt` for each name, retrying conflicts; prints porchctl's lines.
fn each(
    client: &Client,
    names: &[String],
    mut attempt: impl FnMut(&Client, &str) -> Result<Step, String>,
) -> Outcome {
    let mut messages = Vec::new();
    for name in names {
        let mut result = attempt(client, name);
        let mut tries = 1;
        while tries < ATTEMPTS && matches!(&result, Err(e) if e.starts_with(CONFLICT)) {
            std::thread::sleep(BACKOFF);
            result = attempt(client, name);
            tries += 1;
        }
        match result {
            Ok(Step::Done(line)) => println!("{line}"),
            Ok(Step::Already(line)) => eprintln!("{line}"),
            Err(message) => {
                let message = message.strip_prefix(CONFLICT).unwrap_or(&message).to_string();
                eprintln!("{name} failed ({message})");
                messages.push(message);
            }
        }
    }
    summarize(messages)
}

/// Marks a conflict (409) so that [`each`] retries it.
const CONFLICT: &str = "\u{0}conflict:";

fn api(e: kube::Error) -> String {
    if e.is_conflict() { format!("{CONFLICT}{e}") } else { e.to_string() }
}

fn read(client: &Client, name: &str) -> Result<Value, String> {
    client.get(&client.object(PORCH, "packagerevisions", name)).map_err(api)
}

fn lifecycle(pr: &Value) -> &str {
    pr["spec"]["lifecycle"].as_str().unwrap_or("Draft")
}

/// Porch's `PackageRevisionIsReady`: every readiness gate has a True condition.
fn ready(pr: &Value) -> bool {
    let conditions = pr["status"]["conditions"].as_array().map(Vec::as_slice).unwrap_or_default();
    pr["spec"]["readinessGates"].as_array().map(Vec::as_slice).unwrap_or_default().iter().all(
        |gate| {
            let wanted = gate["conditionType"].as_str().unwrap_or("");
            conditions
                .iter()
                .rev()
                .find(|c| c["type"] == wanted)
                .is_some_and(|c| c["status"] == "True")
        },
    )
}

fn set_lifecycle(
    client: &Client,
    name: &str,
    mut pr: Value,
    to: &str,
    approval: bool,
) -> Result<(), String> {
    pr["spec"]["lifecycle"] = json!(to);
    let mut path = client.object(PORCH, "packagerevisions", name);
    if approval {
        path.push_str("/approval");
    }
    client.update(&path, &pr).map(|_| ()).map_err(api)
}

pub fn propose(client: &Client, names: Names) -> Outcome {
    each(client, &names.names, |client, name| {
        let pr = read(client, name)?;
        if !ready(&pr) {
            return Err("readiness conditions not met".into());
        }
        match lifecycle(&pr) {
            "Draft" => {
                set_lifecycle(client, name, pr, "Proposed", false)?;
                Ok(Step::Done(format!("{name} proposed")))
            }
            "Proposed" => Ok(Step::Already(format!("{name} is already proposed"))),
            other => Err(format!("cannot propose {other} package")),
        }
    })
}

pub fn approve(client: &Client, names: Names) -> Outcome {
    each(client, &names.names, |client, name| {
        let pr = read(client, name)?;
        if !ready(&pr) {
            return Err("readiness conditions not met".into());
        }
        match lifecycle(&pr) {
            "Proposed" | "DeletionProposed" => {
                set_lifecycle(client, name, pr, "Published", true)?;
            }
            "Published" => {}
            other => return Err(format!("cannot change approval from {other} to Published")),
        }
        Ok(Step::Done(format!("{name} approved")))
    })
}

pub fn reject(client: &Client, names: Names) -> Outcome {
    each(client, &names.names, |client, name| {
        let pr = read(client, name)?;
        match lifecycle(&pr) {
            "Proposed" => {
                set_lifecycle(client, name, pr, "Draft", true)?;
                Ok(Step::Done(format!("{name} no longer proposed for approval")))
            }
            "DeletionProposed" => {
                set_lifecycle(client, name, pr, "Published", false)?;
                Ok(Step::Done(format!("{name} no longer proposed for deletion")))
            }
            other => Err(format!("cannot reject {name} with lifecycle '{other}'")),
        }
    })
}

pub fn propose_delete(client: &Client, names: Names) -> Outcome {
    each(client, &names.names, |client, name| {
        let pr = read(client, name)?;
        match lifecycle(&pr) {
            "Published" => {
                set_lifecycle(client, name, pr, "DeletionProposed", false)?;
                Ok(Step::Done(format!("{name} proposed for deletion")))
            }
            "DeletionProposed" => {
                Ok(Step::Already(format!("{name} is already proposed for deletion")))
            }
            _ => Err(format!(
                "can only propose published packages for deletion; package {name} is not published"
            )),
        }
    })
}

pub fn delete(client: &Client, names: Names) -> Outcome {
    let mut messages = Vec::new();
    for name in &names.names {
        match client.delete(&client.object(PORCH, "packagerevisions", name)) {
            Ok(_) => println!("{name} deleted"),
            Err(e) => {
                eprintln!("{name} failed ({e})");
                messages.push(e.to_string());
            }
        }
    }
    summarize(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_gates_need_true_conditions() {
        let pr = json!({"spec": {"readinessGates": [{"conditionType": "A"}]},
                        "status": {"conditions": [{"type": "A", "status": "False"}]}});
        assert!(!ready(&pr));
        let pr = json!({"spec": {"readinessGates": [{"conditionType": "A"}]},
                        "status": {"conditions": [{"type": "A", "status": "True"}]}});
        assert!(ready(&pr));
        assert!(ready(&json!({"spec": {}})));
    }
}
