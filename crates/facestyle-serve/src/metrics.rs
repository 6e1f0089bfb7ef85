//! Request counters and latencies per route, as Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::state::lock;

#[derive(Default)]
pub struct Metrics {
    /// (route, status) -> count.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// route -> (sum of seconds, count).
    latency: Mutex<BTreeMap<String, (f64, u64)>>,
}

impl Metrics {
    pub fn record(&self, route: &str, status: u16, seconds: f64) {
        *lock(&self.requests).entry((route.to_string(), status)).or_default() += 1;
        let mut l = lock(&self.latency);
        let e = l.entry(route.to_string()).or_default();
        e.0 += seconds;
        e.1 += 1;
    }

    /// Prometheus text exposition; `gauges` are (name, help, value) added at the end.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut s = String::new();
        s += "# HELP facestyle_http_requests_total HTTP requests by route and status.\n";
        s += "# TYPE facestyle_http_requests_total counter\n";
        for ((route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(s, "facestyle_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        s += "# HELP facestyle_http_request_seconds Time spent answering requests, by route.\n";
        s += "# TYPE facestyle_http_request_seconds summary\n";
        for (route, (sum, count)) in lock(&self.latency).iter() {
            let _ = writeln!(s, "facestyle_http_request_seconds_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(s, "facestyle_http_request_seconds_count{{route=\"{route}\"}} {count}");
        }
        for (name, help, value) in gauges {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        s
    }
}
