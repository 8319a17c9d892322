//! How a package is re-serialised by a render without functions, against the output of the real
//! kpt 1.0.0-beta.56 (`test_data/formatting/expected`, made with `kpt fn render` on
//! `test_data/formatting/input`): comments, blank lines, indentation, sequence styles, scalar
//! styles, document markers, anchors, JSON files and non-KRM files.

use std::path::PathBuf;

use veranda_fn::{BuiltinRuntime, RenderOptions, render};

use crate::util::{diff_files, read_dir};

#[test]
fn no_function_render_matches_kpt() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data/formatting");
    let input = read_dir(&dir.join("input"));
    let expected = read_dir(&dir.join("expected"));
    let options = RenderOptions { write_status: false, ..RenderOptions::default() };
    let outcome = render(&input, &BuiltinRuntime, &options);
    assert_eq!(outcome.error, None);
    let diff = diff_files(&outcome.files, &expected);
    assert!(diff.is_empty(), "{diff}");
}
