//! The careminder command line: everything is in [`careminder::cli`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    careminder::cli::main().await
}
