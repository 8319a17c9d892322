//! End-to-end tests: the release `veranda` binary driven by the real `kubectl`, the Python
//! Kubernetes client and `git`, against real Git repositories on disk.

mod bad_input;
mod crash;
mod fn_runner;
mod hardening;
mod hostile_yaml;
mod lifecycle;
mod private_git;
mod python_client;
mod python_venv;
mod secrets;
mod tarpit;
mod tidy;
mod upgrade;
mod util;
