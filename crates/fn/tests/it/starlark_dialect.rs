//! Programs as starlark-go (with the flags the catalog function sets) accepts them run through
//! the built-in `starlark` function: tabs, `while`, sets, lambdas, top-level statements,
//! global reassignment, recursion, escapes, numbers.

use std::collections::BTreeMap;

use veranda_fn::{BuiltinRuntime, Files, RenderOptions, render};

/// Runs `source` in a package with one ConfigMap; the program fills the dict `out`, whose
/// values (as `str()`) become the ConfigMap's data. Returns that data or the render error.
fn run(source: &str) -> Result<BTreeMap<String, String>, String> {
    let program = format!(
        "out = {{}}\n{source}\nfor r in ctx.resource_list[\"items\"]:\n  if r[\"kind\"] == \"ConfigMap\":\n    r[\"data\"] = {{k: str(v) for k, v in out.items()}}\n"
    );
    let config = format!(
        "apiVersion: fn.kpt.dev/v1alpha1\nkind: StarlarkRun\nmetadata:\n  name: f\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\nsource: {}\n",
        serde_json::to_string(&program).map_err(|e| e.to_string())?
    );
    let kptfile = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\npipeline:\n  mutators:\n    - image: starlark:v0.5\n      configPath: fn.yaml\n";
    let files: Files = [
        ("Kptfile".to_string(), kptfile.as_bytes().to_vec()),
        ("fn.yaml".to_string(), config.into_bytes()),
        (
            "cm.yaml".to_string(),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata: {}\n".to_vec(),
        ),
    ]
    .into_iter()
    .collect();
    let outcome = render(&files, &BuiltinRuntime, &RenderOptions::default());
    if let Some(error) = outcome.error {
        return Err(error);
    }
    let cm = files_text(&outcome.files, "cm.yaml");
    let value: serde_yaml::Value = serde_yaml::from_str(&cm).map_err(|e| format!("{e}: {cm}"))?;
    let data = value.get("data").cloned().unwrap_or_default();
    serde_yaml::from_value(data).map_err(|e| format!("{e}: {cm}"))
}

fn files_text(files: &Files, path: &str) -> String {
    String::from_utf8_lossy(files.get(path).map(Vec::as_slice).unwrap_or_default()).into_owned()
}

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn tabs_indent_as_in_starlark_go() {
    // A tab is 8 columns of indentation, two tabs 15 (starlark-go's count), tab + space 9.
    let source = "def f(n):\n\tif n > 1:\n\t\treturn n\n\treturn 0\nfor i in range(3):\n\tout[\"i\"] = i\nif True:\n\tout[\"f\"] = f(2)\n\tif out[\"f\"] == 2:\n\t out[\"nested\"] = f(1)\n";
    assert_eq!(run(source), Ok(data(&[("f", "2"), ("i", "2"), ("nested", "0")])));
}

#[test]
fn tabs_between_tokens_and_in_brackets() {
    let source =
        "x =\t[\n\t1,\n\t\t2,\n]\t# a\tcomment\ny = 1 + \\\n\t2\nout[\"x\"] = x\nout[\"y\"] =\ty\n";
    assert_eq!(run(source), Ok(data(&[("x", "[1, 2]"), ("y", "3")])));
}

#[test]
fn tabs_inside_strings_are_kept() {
    // The lines of the triple-quoted string keep their tabs; so do the other literals.
    let source = "s = \"\"\"\n\tline \\\"\"\" one\n\t\tline two\"\"\"\nif True:\n\tout[\"s\"] = repr(s)\n\tout[\"t\"] = repr('a\tb')\n";
    assert_eq!(
        run(source),
        Ok(data(&[("s", "\"\\n\\tline \\\"\\\"\\\" one\\n\\t\\tline two\""), ("t", "\"a\\tb\""),]))
    );
}

#[test]
fn unindent_that_matches_no_level_fails_as_in_starlark_go() {
    // `\t\t` is indentation 15 for starlark-go, `\t` + 8 spaces is 16: not the same block.
    let source = "if True:\n\tif True:\n\t\tx = 1\n\t        y = 2\n";
    let error = run(source).expect_err("starlark-go rejects this indentation");
    assert!(error.contains("Parse error") && !error.contains("tabs"), "{error}");
}

#[test]
fn two_tabs_are_fifteen_columns() {
    // starlark-go counts the second tab of a line as 7 columns: 15 spaces continue the block.
    let source = "if True:\n\tif True:\n\t\tout[\"a\"] = 1\n               out[\"b\"] = 2\n";
    assert_eq!(run(source), Ok(data(&[("a", "1"), ("b", "2")])));
}

#[test]
fn while_loops() {
    let source = "n = 0\nwhile n < 5:\n  n += 1\nout[\"n\"] = n\n\ndef collatz(x):\n  steps = 0\n  while (x !=\n         1):\n    steps += 1\n    if x % 2 == 0:\n      x = x // 2\n      continue\n    x = 3 * x + 1\n  return steps\nout[\"collatz\"] = collatz(27)\n\ndef first_over(limit):\n  i = 0\n  while True:\n    i += 1\n    if i * i > limit:\n      return i\n\nout[\"first\"] = first_over(50)\nk = 3\nwhile k: k -= 1; out[\"k\"] = k\nm = 0\nwhile True:\n  m += 2\n  if m >= 6:\n    break\nout[\"m\"] = m\npairs = 0\ni = 0\nwhile i < 3:\n  i += 1\n  j = 0\n  while j < i:\n    j += 1\n    pairs += 1\nout[\"pairs\"] = pairs\n";
    assert_eq!(
        run(source),
        Ok(data(&[
            ("collatz", "111"),
            ("first", "8"),
            ("k", "0"),
            ("m", "6"),
            ("n", "5"),
            ("pairs", "6")
        ]))
    );
}

#[test]
fn endless_while_is_stopped_by_the_budget() {
    let error = run("while True:\n  pass\n").expect_err("stopped");
    assert!(error.contains("budget"), "{error}");
}

#[test]
fn sets() {
    let source = "s = set([\"b\", \"a\"])\ns.add(\"c\")\ns.discard(\"b\")\nout[\"s\"] = sorted(s)\nout[\"in\"] = \"a\" in s\nout[\"union\"] = sorted(s | set([\"z\"]))\nout[\"inter\"] = sorted(s.intersection([\"a\", \"q\"]))\nout[\"len\"] = len(s)\nout[\"type\"] = type(s)\n";
    assert_eq!(
        run(source),
        Ok(data(&[
            ("in", "True"),
            ("inter", "[\"a\"]"),
            ("len", "2"),
            ("s", "[\"a\", \"c\"]"),
            ("type", "set"),
            ("union", "[\"a\", \"c\", \"z\"]"),
        ]))
    );
}

#[test]
fn lambdas_and_nested_defs() {
    let source = "def adder(n):\n  def add(x):\n    return x + n\n  return add\ndouble = lambda x: x * 2\nout[\"add\"] = adder(3)(4)\nout[\"map\"] = [double(x) for x in [1, 2]]\nout[\"sorted\"] = sorted([\"bb\", \"a\"], key = lambda s: len(s))\n";
    assert_eq!(
        run(source),
        Ok(data(&[("add", "7"), ("map", "[2, 4]"), ("sorted", "[\"a\", \"bb\"]")]))
    );
}

#[test]
fn top_level_statements_and_global_reassignment() {
    let source = "x = 1\nx = x + 1\nx += 1\nnames = []\nfor r in ctx.resource_list[\"items\"]:\n  names.append(r[\"metadata\"][\"name\"])\nif len(names) > 0:\n  out[\"names\"] = \",\".join(sorted(names))\nelse:\n  out[\"names\"] = \"none\"\nout[\"x\"] = x\n";
    assert_eq!(run(source), Ok(data(&[("names", "cm,f,pkg"), ("x", "3")])));
}

#[test]
fn recursion() {
    let source = "def fib(n):\n  if n < 2:\n    return n\n  return fib(n - 1) + fib(n - 2)\nout[\"fib\"] = fib(15)\n";
    assert_eq!(run(source), Ok(data(&[("fib", "610")])));
}

#[test]
fn keyword_only_parameters() {
    let source = "def f(a, *, b = 2):\n  return a * 10 + b\nout[\"f\"] = f(1) + f(1, b = 5)\n";
    assert_eq!(run(source), Ok(data(&[("f", "27")])));
}

#[test]
fn string_escapes() {
    // Octal, hex, \u and \U escapes, the C escapes, quotes, backslash-newline; raw strings.
    let source = "s = \"\\x41\\101\\u00e9\\U0001F600\\a\\b\\f\\v\\t\\n\\r\\\\\\'\\\"\\\n!\"\nexpected = \"AA\" + chr(233) + chr(128512) + \"\".join([chr(c) for c in [7, 8, 12, 11, 9, 10, 13, 92, 39, 34, 33]])\nout[\"same\"] = s == expected\nout[\"raw\"] = r\"\\n\\\"\" == chr(92) + \"n\" + chr(92) + chr(34)\n";
    assert_eq!(run(source), Ok(data(&[("raw", "True"), ("same", "True")])));
}

#[test]
fn numbers() {
    let source = "out[\"div\"] = 7 / 2\nout[\"floordiv\"] = -7 // 2\nout[\"big\"] = 1 << 70\nout[\"float\"] = 1e20\nout[\"sum\"] = 0.1 + 0.2\nout[\"lits\"] = [0o17, 0x1F, 0b101, int(\"0x10\", 16), 1., .5]\n";
    assert_eq!(
        run(source),
        Ok(data(&[
            ("big", "1180591620717411303424"),
            ("div", "3.5"),
            ("float", "1e+20"),
            ("floordiv", "-4"),
            ("lits", "[15, 31, 5, 16, 1.0, 0.5]"),
            ("sum", "0.30000000000000004"),
        ]))
    );
}

#[test]
fn load_encoding_json() {
    let source = "load(\"encoding/json.star\", \"json\")\nload(\"encoding/json.star\", j = \"json\")\nobj = json.decode('{\"a\": [1, 2.5, \"x\"], \"b\": null}')\nout[\"a\"] = obj[\"a\"]\nout[\"b\"] = obj[\"b\"]\nout[\"enc\"] = j.encode({\"k\": [True, None]})\n";
    assert_eq!(
        run(source),
        Ok(data(&[("a", "[1, 2.5, \"x\"]"), ("b", "None"), ("enc", "{\"k\":[true,null]}")]))
    );
    let error = run("load(\"re.star\", \"re\")\n").expect_err("not provided");
    assert!(error.contains("re.star"), "{error}");
}

#[test]
fn unicode_names() {
    let source =
        "déjà = 1\ndef größe(maß = 2):\n  return déjà + maß\nout[\"v\"] = größe(maß = 5)\n";
    assert_eq!(run(source), Ok(data(&[("v", "6")])));
}
