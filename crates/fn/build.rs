//! Compiles the function-runner protocol (`proto/evaluator.proto`) with protox, a pure-Rust
//! protobuf compiler, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/evaluator.proto");
    let fds = protox::compile(["proto/evaluator.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
