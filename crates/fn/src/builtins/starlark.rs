//! `starlark` (catalog v0.5.1): runs a Starlark program over `ctx.resource_list`, the way the
//! catalog's Go function does with starlark-go: items become plain dicts and lists, the program
//! mutates them, and the result is converted back (keys sorted, strings quoted as go-yaml
//! would). Comments and the original field order come back through the engine's comment copy,
//! as in kpt.
//!
//! The program is read as starlark-go reads it with the flags the Go function sets (`set`,
//! `while`, top-level `if`/`for`/`while`, global reassignment, recursion): [`go_dialect`] turns
//! tabs, `while` loops, raw strings with escaped quotes and non-ASCII names into what the crate
//! parses, and [`DIALECT`] enables the rest (`docs/starlark.md` lists what still differs).
//! `print` goes to stderr. Programs run with a statement budget so a runaway loop fails instead
//! of hanging, and a heap budget checked before every statement, so a program that grows its
//! data without end fails instead of exhausting the server's memory (one expression that asks
//! for more than the machine has, such as a huge string repetition, is not caught by it).
//! `ctx.environment` holds only the variables allowlisted with `--function-env`. Of the starlib
//! modules `load()` finds only `encoding/json.star`; `ctx.open_api` is not provided.

use std::cell::{Cell, RefCell};

use starlark::environment::{FrozenModule, Globals, GlobalsBuilder, LibraryExtension, Module};
use starlark::eval::{BeforeStmtFuncDyn, Evaluator, FileLoader};
use starlark::syntax::{AstModule, Dialect};
use starlark::values::dict::AllocDict;
use starlark::values::list::AllocList;
use starlark::values::structs::AllocStruct;
use starlark::values::{Heap, Value};

use super::{FnResult, result};
use crate::yaml::{Kind, Node, Style};

mod go_dialect;

/// What starlark-go accepts with the Go function's flags: `def`, `lambda` and `load` as in the
/// standard, keyword-only parameters (`def f(a, *, b)`), statements at top level. Type
/// annotations and f-strings, which starlark-go does not parse, stay off.
const DIALECT: Dialect = Dialect {
    enable_top_level_stmt: true,
    enable_keyword_only_arguments: true,
    ..Dialect::Standard
};

/// Statements a program may execute.
const STEP_LIMIT: u64 = 50_000_000;

/// Bytes the program's heap may hold, checked before every statement.
const HEAP_LIMIT: usize = 256 << 20;

pub(crate) fn run(items: Vec<Node>, config: Option<&Node>) -> FnResult {
    let fail = |items: Vec<Node>, message: String, stderr: String| FnResult {
        items,
        results: vec![result(&message, "error")],
        error: true,
        stderr: if stderr.is_empty() {
            "failed to evaluate function: error: function failure\n".into()
        } else {
            stderr
        },
    };
    let (name, source) = match parse_config(config) {
        Ok(c) => c,
        Err(message) => return fail(items, message, String::new()),
    };
    let mut list = serde_json::Map::new();
    list.insert("apiVersion".into(), "config.kubernetes.io/v1".into());
    list.insert("kind".into(), "ResourceList".into());
    list.insert(
        "items".into(),
        serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
    );
    if let Some(config) = config {
        list.insert("functionConfig".into(), config.to_json());
    }
    match execute(&name, &source, &serde_json::Value::Object(list)) {
        Ok((output, stderr)) => {
            let new_items = output
                .get("items")
                .and_then(|i| i.as_array())
                .map(|items| items.iter().map(go_yaml_node).collect())
                .unwrap_or_default();
            FnResult { items: new_items, results: Vec::new(), error: false, stderr }
        }
        Err((message, stderr)) => fail(items, message, stderr),
    }
}

fn parse_config(config: Option<&Node>) -> Result<(String, String), String> {
    let Some(config) =
        config.map(Node::inner).filter(|c| c.kind == Kind::Mapping && !c.content.is_empty())
    else {
        return Err("FunctionConfig is missing. Expect `ConfigMap` or `StarlarkRun`".into());
    };
    let group = super::group(config.api_version());
    let kind = config.kind_name();
    let source = if group.is_empty() && kind == "ConfigMap" {
        config.get_str(&["data", "source"]).unwrap_or("").to_string()
    } else if group == "fn.kpt.dev" && kind == "StarlarkRun" {
        config.get_str(&["source"]).unwrap_or("").to_string()
    } else {
        let gvk = |v: &str, k: &str| match v.split_once('/') {
            Some((g, v)) => format!("{g}/{v}, Kind={k}"),
            None => format!("/{v}, Kind={k}"),
        };
        return Err(format!(
            "`functionConfig` must be either {} or {}, but we got: {}",
            gvk("v1", "ConfigMap"),
            gvk("fn.kpt.dev/v1alpha1", "StarlarkRun"),
            gvk(config.api_version(), kind)
        ));
    };
    if source.is_empty() {
        return Err("`source` must not be empty".into());
    }
    let name = config.name();
    Ok((if name.is_empty() { "starlark-function-run".into() } else { name.to_string() }, source))
}

struct Stderr(RefCell<String>);

impl starlark::PrintHandler for Stderr {
    fn println(&self, text: &str) -> starlark::Result<()> {
        let mut out = self.0.borrow_mut();
        out.push_str(text);
        out.push('\n');
        Ok(())
    }
}

/// Charges one step (a statement, or the test of a `while` loop) to the steps left, a
/// `Cell<u64>` in the evaluator's `extra`, and checks the heap.
fn spend(eval: &Evaluator<'_, '_, '_>) -> anyhow::Result<()> {
    if eval.heap().allocated_bytes() > HEAP_LIMIT {
        anyhow::bail!("the program exceeded its memory budget of {} MiB", HEAP_LIMIT >> 20);
    }
    let Some(steps) = eval.extra.and_then(|extra| extra.downcast_ref::<Cell<u64>>()) else {
        anyhow::bail!("the program runs without a budget");
    };
    let left = steps.get();
    if left == 0 {
        anyhow::bail!("the program exceeded its budget of {STEP_LIMIT} statements");
    }
    steps.set(left - 1);
    Ok(())
}

struct StepBudget;

impl<'e> BeforeStmtFuncDyn<'e> for StepBudget {
    fn call<'v>(
        &mut self,
        _span: starlark::codemap::FileSpanRef,
        _continued: bool,
        eval: &mut Evaluator<'v, '_, 'e>,
    ) -> starlark::Result<()> {
        spend(eval).map_err(starlark::Error::new_other)
    }
}

/// The test of a `while` loop as [`go_dialect`] rewrites it. A call, so that the compiler
/// cannot fold a constant condition away: every iteration is charged, even of `while True:
/// pass`, whose body has no statement left to charge.
#[starlark::starlark_module]
fn while_test(builder: &mut GlobalsBuilder) {
    fn _while_condition_<'v>(
        #[starlark(require = pos)] condition: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<bool> {
        spend(eval)?;
        Ok(condition.to_bool())
    }
}

/// The modules `load()` finds. Of the starlib modules the Go function offers, only
/// `encoding/json.star` (its `json`: `encode` and `decode`, from the crate's JSON library).
struct Loader<'g> {
    globals: &'g Globals,
}

impl FileLoader for Loader<'_> {
    fn load(&self, path: &str) -> starlark::Result<FrozenModule> {
        let Some((_, json)) = self.globals.iter().find(|(name, _)| *name == "json") else {
            return Err(starlark::Error::new_other(anyhow::anyhow!("no json library")));
        };
        if path != "encoding/json.star" {
            return Err(starlark::Error::new_other(anyhow::anyhow!(
                "cannot load {path}: the only module provided is encoding/json.star"
            )));
        }
        Module::with_temp_heap(|module| {
            module.set("json", json.to_value());
            module.freeze().map_err(starlark::Error::from)
        })
    }
}

/// Runs the program; returns the resource list after it ran, and what it printed.
fn execute(
    name: &str,
    source: &str,
    resource_list: &serde_json::Value,
) -> Result<(serde_json::Value, String), (String, String)> {
    let ast = AstModule::parse(name, go_dialect::to_crate_dialect(source), &DIALECT)
        .map_err(|e| (format!("{}", e.without_diagnostic()), String::new()))?;
    let globals = GlobalsBuilder::extended_by(&[
        LibraryExtension::StructType,
        LibraryExtension::Json,
        LibraryExtension::Print,
        LibraryExtension::SetType,
        LibraryExtension::Map,
        LibraryExtension::Filter,
    ])
    .with(while_test)
    .build();
    let steps = Cell::new(STEP_LIMIT);
    let loader = Loader { globals: &globals };
    let stderr = Stderr(RefCell::new(String::new()));
    let outcome = Module::with_temp_heap(|module| {
        let heap = module.heap();
        let list_value = to_starlark(heap, resource_list);
        let environment = to_starlark(
            heap,
            &serde_json::Value::Object(
                crate::environment::function_environment()
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            ),
        );
        let ctx =
            heap.alloc(AllocStruct([("resource_list", list_value), ("environment", environment)]));
        module.set("ctx", ctx);
        let mut eval = Evaluator::new(&module);
        eval.set_print_handler(&stderr);
        eval.extra = Some(&steps);
        eval.set_loader(&loader);
        eval.before_stmt_for_dap(starlark::eval::BeforeStmtFunc::from_dyn(Box::new(StepBudget)));
        let result = eval.eval_module(ast, &globals);
        drop(eval);
        match result {
            Ok(_) => list_value.to_json_value().map_err(|e| e.to_string()),
            Err(e) => Err(error_message(&e)),
        }
    });
    let printed = stderr.0.into_inner();
    match outcome {
        Ok(value) => Ok((value, printed)),
        Err(message) => Err((message, printed)),
    }
}

/// starlark-go style messages: `fail: <message>` for `fail()`.
fn error_message(error: &starlark::Error) -> String {
    let text = format!("{}", error.without_diagnostic());
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("fail:") {
        return format!("fail: {}", rest.trim());
    }
    text.to_string()
}

fn to_starlark<'v>(heap: Heap<'v>, value: &serde_json::Value) -> Value<'v> {
    match value {
        serde_json::Value::Null => Value::new_none(),
        serde_json::Value::Bool(b) => Value::new_bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => heap.alloc(i),
            None => heap.alloc(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => heap.alloc(s.as_str()),
        serde_json::Value::Array(items) => {
            let values: Vec<Value<'v>> = items.iter().map(|i| to_starlark(heap, i)).collect();
            heap.alloc(AllocList(values))
        }
        serde_json::Value::Object(map) => {
            let pairs: Vec<(Value<'v>, Value<'v>)> =
                map.iter().map(|(k, v)| (heap.alloc(k.as_str()), to_starlark(heap, v))).collect();
            heap.alloc(AllocDict(pairs))
        }
    }
}

/// `yaml.Marshal` of Go values: sorted keys, strings quoted when YAML would read them as
/// something else (including YAML 1.1 booleans), multi-line strings as literal blocks.
fn go_yaml_node(value: &serde_json::Value) -> Node {
    let mut node = Node::from_json(value);
    fix_strings(&mut node);
    node
}

fn fix_strings(node: &mut Node) {
    if node.kind == Kind::Scalar
        && node.tag == "!!str"
        && !node.value.contains('\n')
        && crate::yaml::yaml11::encoder_quotes(&node.value)
    {
        node.style = Style::DOUBLE_QUOTED;
    }
    for child in node.content.iter_mut() {
        fix_strings(child);
    }
}
