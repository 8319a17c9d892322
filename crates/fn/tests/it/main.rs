//! Integration tests of veranda-fn: kpt render goldens, the function catalog examples, render
//! behaviours (failures, limits, large packages), the gRPC function-runner protocol.

mod behaviours;
mod catalog;
mod formatting;
mod grpc;
mod render_goldens;
mod sandbox;
mod starlark_dialect;
mod util;
