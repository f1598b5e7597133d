//! `cargo xtask <command>`: parses flags and hands over to the library; errors become exit
//! code 1.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "Developer tasks of the o1-pruner workspace")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pretrain the embedded demo model from scratch and write it to assets/demo-model.
    TrainDemo(xtask::train_demo::Args),
    /// Time the native sampler (and transformers' generate() when installed).
    BenchSampler(xtask::bench_sampler::Args),
    /// Throughput of `serve` under concurrent requests against one at a time.
    BenchServe(xtask::bench_serve::Args),
    /// Time the trainer's step (and PyTorch's on the same shape when installed).
    BenchTrain(xtask::bench_train::Args),
    /// Peak memory and step speed at the R1-Distill-Qwen-1.5B shape against PyTorch + PEFT.
    BenchMemory(xtask::bench_memory::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::TrainDemo(args) => xtask::train_demo::run(&args),
        Command::BenchSampler(args) => xtask::bench_sampler::run(&args),
        Command::BenchServe(args) => xtask::bench_serve::run(&args),
        Command::BenchTrain(args) => xtask::bench_train::run(&args),
        Command::BenchMemory(args) => xtask::bench_memory::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
