//! Porch's function-runner protocol (`evaluator.FunctionEvaluator/EvaluateFunction` over gRPC):
//! [`GrpcRuntime`], a [`FunctionRuntime`] that sends functions to a remote function runner, and
//! [`serve_function_runner`], which serves any [`FunctionRuntime`] with that protocol.
//!
//! Status codes follow Porch: `NotFound` when no runtime provides the image (a client's
//! [`MultiRuntime`](crate::MultiRuntime) then tries the next runtime), `Internal` with
//! `Failed to execute function "IMAGE": …` otherwise. A function that exits non-zero is also
//! `Internal`, as in Porch; our server adds its output (ResourceList with results, stderr) and
//! exit code to the status so that a veranda client reports the failure like a local run.

use std::future::Future;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use prost::Message;
use tonic::transport::{Channel, Endpoint};

use crate::runtime::{FunctionOutput, FunctionRef, FunctionRuntime, RuntimeError};

#[allow(clippy::all, clippy::pedantic, unreachable_pub, missing_docs, dead_code)]
mod proto {
    tonic::include_proto!("evaluator");
}

#[allow(clippy::all, clippy::pedantic, unreachable_pub, missing_docs, dead_code)]
mod health {
    tonic::include_proto!("grpc.health.v1");
}

use health::health_check_response::ServingStatus;
use health::health_server::{Health, HealthServer};
use health::{HealthCheckRequest, HealthCheckResponse};
use proto::function_evaluator_client::FunctionEvaluatorClient;
use proto::function_evaluator_server::{FunctionEvaluator, FunctionEvaluatorServer};
use proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};

/// Largest request or response message, in either direction (Porch's `--max-request-body-size`).
pub const MAX_MESSAGE_SIZE: usize = 6 * 1024 * 1024;

/// Metadata key of the exit code our server attaches to a failed function's `Internal` status.
const EXIT_CODE_KEY: &str = "x-veranda-exit-code";

/// Largest function output (stdout + stderr) our server attaches to a failed function's status;
/// status details travel in an HTTP/2 trailer, which peers limit to a few KiB.
const MAX_STATUS_DETAILS: usize = 8 * 1024;

/// Longest stderr quoted in a status message.
const MAX_MESSAGE_STDERR: usize = 2 * 1024;

/// Settings of a [`GrpcRuntime`].
#[derive(Clone, Debug)]
pub struct GrpcConfig {
    /// The function runner, e.g. `http://127.0.0.1:9445` (plain HTTP/2, no TLS).
    pub endpoint: String,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long one function call may take, connecting included.
    pub timeout: Duration,
}

impl GrpcConfig {
    /// A config with the default time limits (5 s to connect, 30 s per call).
    pub fn new(endpoint: impl Into<String>) -> GrpcConfig {
        GrpcConfig {
            endpoint: endpoint.into(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why a [`GrpcRuntime`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GrpcSetupError {
    #[error("invalid function runner endpoint {endpoint:?}: {source}")]
    Endpoint {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("start the function runner client: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Runs functions on a remote function runner.
///
/// [`FunctionRuntime::run`] is synchronous and may be called from any thread, with or without a
/// tokio runtime (typically a `spawn_blocking` thread). The client owns a small runtime of its
/// own: the connection's background task lives there, so it outlives any caller's runtime, and
/// waiting for a reply never needs `block_on` on the caller's runtime (which panics on worker
/// threads). Every call is bounded by [`GrpcConfig::timeout`].
pub struct GrpcRuntime {
    config: GrpcConfig,
    client: FunctionEvaluatorClient<Channel>,
    // Invariant: `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for GrpcRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcRuntime").field("config", &self.config).finish_non_exhaustive()
    }
}

impl GrpcRuntime {
    /// Creates a client. It connects lazily, on the first call, and reconnects as needed.
    pub fn new(config: GrpcConfig) -> Result<GrpcRuntime, GrpcSetupError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("veranda-fn-grpc")
            .enable_all()
            .build()
            .map_err(GrpcSetupError::Runtime)?;
        let endpoint = Endpoint::from_shared(config.endpoint.clone())
            .map_err(|source| GrpcSetupError::Endpoint {
                endpoint: config.endpoint.clone(),
                source,
            })?
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .tcp_nodelay(true);
        let channel = {
            let _guard = runtime.enter();
            endpoint.connect_lazy()
        };
        let client = FunctionEvaluatorClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        Ok(GrpcRuntime { config, client, runtime: Some(runtime) })
    }

    /// The configuration (address, timeouts) this runtime was created with.
    pub fn config(&self) -> &GrpcConfig {
        &self.config
    }

    fn call(&self, image: &str, input: &[u8]) -> Result<FunctionOutput, RuntimeError> {
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        let mut client = self.client.clone();
        let mut request = tonic::Request::new(EvaluateFunctionRequest {
            resource_list: input.to_vec(),
            image: image.to_string(),
        });
        request.set_timeout(self.config.timeout);
        let timeout = self.config.timeout;
        let (tx, rx) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            let reply = tokio::time::timeout(timeout, client.evaluate_function(request)).await;
            let _ = tx.send(reply);
        });
        let timed_out = || RuntimeError::Timeout { name: image.to_string(), timeout };
        // A second, coarser limit on this thread: the call above is itself bounded, this one
        // only guards against a runtime that stopped running tasks.
        let reply = match rx.recv_timeout(timeout + Duration::from_secs(5)) {
            Ok(Ok(reply)) => reply,
            Ok(Err(_elapsed)) => return Err(timed_out()),
            Err(_) => return Err(timed_out()),
        };
        match reply {
            Ok(response) => {
                let response = response.into_inner();
                Ok(FunctionOutput {
                    stdout: response.resource_list,
                    stderr: String::from_utf8_lossy(&response.log).into_owned(),
                    exit_code: 0,
                })
            }
            Err(status) => self.status_error(image, status),
        }
    }

    fn status_error(
        &self,
        image: &str,
        status: tonic::Status,
    ) -> Result<FunctionOutput, RuntimeError> {
        let name = image.to_string();
        match status.code() {
            tonic::Code::NotFound => Err(RuntimeError::NotFound(name)),
            tonic::Code::DeadlineExceeded => {
                Err(RuntimeError::Timeout { name, timeout: self.config.timeout })
            }
            tonic::Code::Cancelled if status.message().contains("Timeout expired") => {
                Err(RuntimeError::Timeout { name, timeout: self.config.timeout })
            }
            tonic::Code::Internal => {
                if let Some(output) = failed_output(&status) {
                    return Ok(output);
                }
                Err(RuntimeError::Failed {
                    name,
                    message: format!("function runner: {}", status.message()),
                })
            }
            tonic::Code::Unavailable => Err(RuntimeError::Failed {
                name,
                message: format!(
                    "function runner {} is unavailable: {}",
                    self.config.endpoint,
                    status_text(&status)
                ),
            }),
            code => Err(RuntimeError::Failed {
                name,
                message: format!("function runner: {code:?}: {}", status_text(&status)),
            }),
        }
    }
}

/// The status message, or the transport error behind it when the message is generic.
fn status_text(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut text = status.message().to_string();
    let mut source = status.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The output our server attached to an `Internal` status for a function that exited non-zero.
fn failed_output(status: &tonic::Status) -> Option<FunctionOutput> {
    let exit_code = status.metadata().get(EXIT_CODE_KEY)?.to_str().ok()?.parse().ok()?;
    let response = EvaluateFunctionResponse::decode(status.details()).ok()?;
    Some(FunctionOutput {
        stdout: response.resource_list,
        stderr: String::from_utf8_lossy(&response.log).into_owned(),
        exit_code,
    })
}

impl Drop for GrpcRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code; this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl FunctionRuntime for GrpcRuntime {
    fn run(&self, function: &FunctionRef, input: &[u8]) -> Result<FunctionOutput, RuntimeError> {
        match function {
            FunctionRef::Image(image) => self.call(image, input),
            // `exec:` paths name files on this machine; a function runner cannot run them.
            FunctionRef::Exec(exec) => Err(RuntimeError::NotFound(exec.clone())),
        }
    }
}

/// Serves `runtime` as a function runner on `listener` until `shutdown` completes.
pub async fn serve_function_runner(
    listener: tokio::net::TcpListener,
    runtime: Arc<dyn FunctionRuntime>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let service = FunctionEvaluatorServer::new(Evaluator { runtime })
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(service)
        .add_service(HealthServer::new(HealthService))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
}

struct Evaluator {
    runtime: Arc<dyn FunctionRuntime>,
}

/// Asks the `grpc.health.v1.Health` service at `endpoint` about `service` (`""` for the server as
/// a whole): `Ok(true)` when it is serving.
pub async fn check_health(endpoint: &str, service: &str) -> Result<bool, tonic::Status> {
    let channel = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let response = health::health_client::HealthClient::new(channel)
        .check(HealthCheckRequest { service: service.to_owned() })
        .await?;
    Ok(response.into_inner().status == i32::from(ServingStatus::Serving))
}

/// The services `grpc.health.v1.Health` reports on: the server as a whole (`""`) and the
/// evaluator, both serving for as long as the process runs.
const HEALTH_SERVICES: [&str; 2] = ["", "evaluator.FunctionEvaluator"];

/// `grpc.health.v1.Health`: what `grpc_health_probe` and Kubernetes gRPC probes ask.
struct HealthService;

impl HealthService {
    fn status(service: &str) -> Result<HealthCheckResponse, tonic::Status> {
        if HEALTH_SERVICES.contains(&service) {
            Ok(HealthCheckResponse { status: ServingStatus::Serving.into() })
        } else {
            Err(tonic::Status::not_found(format!("unknown service {service:?}")))
        }
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        Self::status(&request.into_inner().service).map(tonic::Response::new)
    }

    type WatchStream = std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<HealthCheckResponse, tonic::Status>> + Send>,
    >;

    /// Sends the current status once; it never changes while the server runs, so the stream then
    /// stays open without further messages, as the protocol allows.
    async fn watch(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        use futures_util::StreamExt;
        let response = Self::status(&request.into_inner().service)
            .unwrap_or(HealthCheckResponse { status: ServingStatus::ServiceUnknown.into() });
        let stream = futures_util::stream::once(async move { Ok(response) })
            .chain(futures_util::stream::pending());
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl FunctionEvaluator for Evaluator {
    async fn evaluate_function(
        &self,
        request: tonic::Request<EvaluateFunctionRequest>,
    ) -> Result<tonic::Response<EvaluateFunctionResponse>, tonic::Status> {
        let EvaluateFunctionRequest { resource_list, image } = request.into_inner();
        let runtime = self.runtime.clone();
        let function = FunctionRef::Image(image.clone());
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || runtime.run(&function, &resource_list))
            .await
            .unwrap_or_else(|e| {
                Err(RuntimeError::Failed { name: image.clone(), message: format!("panicked: {e}") })
            });
        tracing::debug!(image, elapsed = ?started.elapsed(), ok = result.is_ok(), "evaluated function");
        match result {
            Ok(output) if output.exit_code == 0 => {
                Ok(tonic::Response::new(EvaluateFunctionResponse {
                    resource_list: output.stdout,
                    log: output.stderr.into_bytes(),
                }))
            }
            Ok(output) => Err(exit_status(&image, output)),
            Err(RuntimeError::NotFound(_)) => {
                Err(tonic::Status::not_found(format!("function {image:?} not found")))
            }
            Err(e) => {
                Err(tonic::Status::internal(format!("Failed to execute function {image:?}: {e}")))
            }
        }
    }
}

/// Porch's status for a function that exited non-zero, plus its output for veranda clients.
fn exit_status(image: &str, output: FunctionOutput) -> tonic::Status {
    let mut stderr = output.stderr.trim_end();
    if stderr.len() > MAX_MESSAGE_STDERR {
        let mut end = MAX_MESSAGE_STDERR;
        while !stderr.is_char_boundary(end) {
            end -= 1;
        }
        stderr = &stderr[..end];
    }
    let message = format!(
        "Failed to execute function {image:?}: exit status {} ({stderr})",
        output.exit_code
    );
    if output.stdout.len() + output.stderr.len() > MAX_STATUS_DETAILS {
        return tonic::Status::internal(message);
    }
    let details =
        EvaluateFunctionResponse { resource_list: output.stdout, log: output.stderr.into_bytes() }
            .encode_to_vec();
    let mut metadata = tonic::metadata::MetadataMap::new();
    if let Ok(value) = output.exit_code.to_string().parse() {
        metadata.insert(EXIT_CODE_KEY, value);
    }
    tonic::Status::with_details_and_metadata(
        tonic::Code::Internal,
        message,
        details.into(),
        metadata,
    )
}
