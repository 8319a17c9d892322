//! KRM function runtime and `kpt fn render` for veranda: the only crate that runs functions.
//!
//! The render engine ([`render()`]) reproduces kpt's pipeline semantics and, through a port of
//! go-yaml v3 ([`yaml`]), kpt's byte-level output. Functions run behind [`FunctionRuntime`]:
//! native built-ins ([`BuiltinRuntime`]) first, then configured executables ([`ExecRuntime`]),
//! then a remote function runner over Porch's gRPC protocol ([`GrpcRuntime`]).

pub mod builtins;
pub mod environment;
pub mod grpc;
pub mod isolated;
pub mod kio;
pub mod render;
pub mod resource_list;
pub mod runtime;
pub use veranda_yaml as yaml;

pub use builtins::BuiltinRuntime;
pub use environment::{function_environment, set_function_environment};
pub use grpc::{GrpcConfig, GrpcRuntime, check_health, serve_function_runner};
pub use isolated::{IsolatedBuiltins, run_builtin_child};
pub use kio::Files;
pub use render::{
    RenderOptions, RenderOutcome, Selector, eval, eval_selected, render, unwrap_resource_list,
};
pub use runtime::{
    ExecRuntime, FunctionOutput, FunctionRef, FunctionRuntime, Limits, MultiRuntime, NodeOutput,
    NodeRun, RuntimeError,
};
