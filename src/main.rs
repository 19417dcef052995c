//! The careminder command line: everything is in [`careminder::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(careminder::cli::main());
    // Whatever a command left running (a pool's maintenance task, a
    // blocking call) must not keep the process alive once it is done.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once ("error: X: Y"), not anyhow's "Error: X /
            // Caused by: X" when X already says Y.
            eprintln!("error: {}", careminder::cli::describe_error(&e));
            ExitCode::FAILURE
        }
    }
}
