//! AFL++ driver: `kube-mesos-afl <target>` under `afl-fuzz` fuzzes one
//! target of `kube_mesos_fuzz`; `kube-mesos-afl seeds <target> <dir>` writes
//! that target's seeds as the initial corpus; `kube-mesos-afl replay
//! <target> <file>...` runs inputs once (a crash found by AFL reproduces
//! with a backtrace).
//!
//! The counting allocator turns an allocation beyond the input's bound into
//! a panic, which AFL records as a crash like any other.

use kube_mesos_fuzz::alloc::{bounded, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn usage() -> ! {
    let names: Vec<&str> = kube_mesos_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    eprintln!(
        "usage: kube-mesos-afl <target> | seeds <target> <dir> | replay <target> <file>...\ntargets: {}",
        names.join(" ")
    );
    std::process::exit(2)
}

fn target(name: &str) -> kube_mesos_fuzz::Target {
    kube_mesos_fuzz::target(name).unwrap_or_else(|| usage())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["seeds", name, dir] => {
            target(name);
            std::fs::create_dir_all(dir).expect("creating the corpus dir");
            for (i, seed) in kube_mesos_fuzz::seeds::seeds(name).iter().enumerate() {
                let path = std::path::Path::new(dir).join(format!("seed-{i:03}"));
                std::fs::write(&path, seed).expect("writing a seed");
            }
        }
        ["replay", name, files @ ..] => {
            let t = target(name);
            for file in files {
                let data = std::fs::read(file).expect("reading an input");
                eprintln!("{file}: {} bytes", data.len());
                bounded(t, &data);
            }
        }
        [name] => {
            let t = target(name);
            afl::fuzz!(|data: &[u8]| {
                bounded(t, data);
            });
        }
        _ => usage(),
    }
}
