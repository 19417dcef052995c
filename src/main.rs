//! The careminder command line: everything is in [`careminder::cli`].

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(careminder::cli::main());
    // Whatever a command left running (a pool's maintenance task, a
    // blocking call) must not keep the process alive once it is done.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    result
}
