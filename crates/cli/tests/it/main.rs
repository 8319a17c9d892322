//! End-to-end tests: the release `veranda` binary driven by the real `kubectl`, the Python
//! Kubernetes client and `git`, against real Git repositories on disk.

mod audit;
mod bad_input;
mod crash;
mod fn_runner;
mod gitea;
mod hardening;
mod hostile_yaml;
mod identities;
mod lifecycle;
mod local_fn;
mod parity;
mod porch_cli_goldens;
mod porchctl;
mod postgres;
mod private_git;
mod python_client;
mod python_venv;
mod rbac;
mod remotes;
mod replicas;
mod schedule;
mod secrets;
mod tarpit;
mod tidy;
mod upgrade;
mod url_rewrite;
mod util;

// The Git servers of the backend's tests (`git http-backend` over HTTP and HTTPS, a tarpit,
// `sshd`), shared rather than copied.
#[allow(dead_code)]
#[path = "../../../repo/tests/it/http_server.rs"]
mod http_server;
#[allow(dead_code)]
#[path = "../../../repo/tests/it/ssh_server.rs"]
mod ssh_server;
