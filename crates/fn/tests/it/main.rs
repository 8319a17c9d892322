//! Integration tests of veranda-fn: kpt render goldens, the function catalog examples, render
//! behaviours (failures, limits, large packages).

mod behaviours;
mod catalog;
mod formatting;
mod render_goldens;
mod util;
