//! Phase timings and memory on stderr when `RECOURS_TRACE` is set (profiling runs).

/// Phase timings on stderr when `RECOURS_TRACE` is set (for profiling runs).
pub fn trace(what: &str, since: std::time::Instant) {
    if std::env::var_os("RECOURS_TRACE").is_some() {
        eprintln!("  trace {what}: {:.2} s", since.elapsed().as_secs_f64());
    }
}

/// Resident and peak memory of the process on stderr when `RECOURS_TRACE` is set (Linux).
pub(crate) fn trace_memory(what: &str) {
    if std::env::var_os("RECOURS_TRACE").is_none() {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0.0, |kb| kb as f64 / 1_048_576.0)
    };
    eprintln!(
        "  trace {what}: resident {:.2} GiB, peak {:.2} GiB",
        field("VmRSS:"),
        field("VmHWM:")
    );
}
