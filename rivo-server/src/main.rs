//! `rivo-server`: see `rivo-server --help`.

use std::process::ExitCode;

use clap::Parser;

/// jemalloc returns freed memory to the system within seconds; glibc's malloc kept every
/// arena's 19 MiB argon2 buffers after a burst of logins (issue 15, finding 11).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = rivo_server::cli::Cli::parse();
    // Before any thread starts: `.env` may set variables (RUST_LOG included).
    rivo_server::config::load_dotenv();
    // Before the runtime: the trace exporter's HTTP client must not be created or dropped
    // inside it.
    let telemetry = rivo_server::telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(rivo_server::cli::run(cli));
    drop(runtime);
    // Flushes the spans not yet exported.
    drop(telemetry);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
