//! Compiles the function-runner protocol (`proto/evaluator.proto`) and the gRPC health protocol
//! (`proto/grpc/health/v1/health.proto`) with protox, a pure-Rust protobuf compiler, so no system
//! `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/evaluator.proto");
    println!("cargo:rerun-if-changed=proto/grpc/health/v1/health.proto");
    let fds =
        protox::compile(["proto/evaluator.proto", "proto/grpc/health/v1/health.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
