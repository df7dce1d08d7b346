//! libprocess' `system/*` metrics (`process::System`): online CPUs, load
//! averages and memory of the machine, which every Mesos process adds to its
//! `/metrics/snapshot`.
//!
//! Read from `/proc` and `/sys` as glibc and stout read them; the parsing is
//! pure and tested, a metric whose source cannot be read is left out (as
//! libprocess leaves out a metric whose future failed).

use std::collections::BTreeMap;

/// Number of CPUs in a `/sys/devices/system/cpu/online` list (`0-3,6`).
pub fn parse_cpu_list(text: &str) -> Option<f64> {
    let mut n = 0u64;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<u64>().ok()?.checked_sub(a.parse::<u64>().ok()?)? + 1,
            None => {
                part.parse::<u64>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n as f64)
}

/// The three load averages of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    Some([it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?])
}

/// `MemTotal` and `MemFree` of `/proc/meminfo`, in bytes.
pub fn parse_meminfo(text: &str) -> Option<(f64, f64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map(|kb| kb * 1024.0)
    };
    Some((field("MemTotal:")?, field("MemFree:")?))
}

/// The `system/*` metrics of this machine.
pub fn snapshot() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let cpus = read("/sys/devices/system/cpu/online")
        .and_then(|t| parse_cpu_list(&t))
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as f64)
        });
    if let Some(n) = cpus {
        out.insert("system/cpus_total".into(), n);
    }
    if let Some([one, five, fifteen]) = read("/proc/loadavg").and_then(|t| parse_loadavg(&t)) {
        out.insert("system/load_1min".into(), one);
        out.insert("system/load_5min".into(), five);
        out.insert("system/load_15min".into(), fifteen);
    }
    if let Some((total, free)) = read("/proc/meminfo").and_then(|t| parse_meminfo(&t)) {
        out.insert("system/mem_total_bytes".into(), total);
        out.insert("system/mem_free_bytes".into(), free);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_linux_writes() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2.0));
        assert_eq!(parse_cpu_list("0-3,6,8-9"), Some(7.0));
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(
            parse_loadavg("0.18 0.76 0.89 1/234 5678\n"),
            Some([0.18, 0.76, 0.89])
        );
        let meminfo = "MemTotal:       24683792 kB\nMemFree:         9159760 kB\n";
        assert_eq!(
            parse_meminfo(meminfo),
            Some((24683792.0 * 1024.0, 9159760.0 * 1024.0))
        );
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
    }
}
