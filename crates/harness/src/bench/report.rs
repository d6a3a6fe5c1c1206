//! What `harness bench` reports: the figures per side and endpoint, the
//! ratios to the stateful side, and the table printed from them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::Endpoint;
use crate::metrics::Latency;
use crate::side::Side;

/// The whole bench.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Connections per endpoint.
    pub connections: usize,
    /// Measured time per endpoint (ms).
    pub duration_ms: u64,
    /// Answers per measurement at most.
    pub max_requests: u64,
    /// Rounds (each endpoint measured `rounds` times per side, sides alternating).
    pub rounds: usize,
    /// Worker threads per node.
    pub workers: u16,
    /// Cores the machine has (the generator and Redis share them with the node).
    pub cpus: usize,
    /// One entry per side, in the order they ran.
    pub sides: Vec<SideBench>,
    /// Each side's req/s over the stateful side's, per endpoint.
    pub ratios: Vec<Ratio>,
    /// Whether `/me` on the stateless side kept at least 0.6× the stateful
    /// side's req/s, the floor the Redis store is built to hold.
    pub me_floor: Option<Floor>,
    /// Non-2xx answers and requests without an answer, over every endpoint.
    pub errors: u64,
    /// Where the JSON report was written, if anywhere.
    pub json: Option<PathBuf>,
}

impl BenchReport {
    /// The entry of `side`, if it ran.
    pub fn side(&self, side: Side) -> Option<&SideBench> {
        self.sides.iter().find(|s| s.side == side)
    }
}

/// One side's figures.
#[derive(Clone, Debug, Serialize)]
pub struct SideBench {
    /// Which twin.
    pub side: Side,
    /// One entry per endpoint.
    pub endpoints: Vec<EndpointBench>,
}

impl SideBench {
    /// The entry of `endpoint`.
    pub fn endpoint(&self, endpoint: Endpoint) -> Option<&EndpointBench> {
        self.endpoints.iter().find(|e| e.endpoint == endpoint)
    }
}

/// One endpoint on one side.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointBench {
    /// Which request.
    pub endpoint: Endpoint,
    /// Answered requests (any status).
    pub requests: u64,
    /// Answers outside 2xx.
    pub non_2xx: u64,
    /// Requests that got no answer (refused, reset, timed out).
    pub failed: u64,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Measured time (ms), from the first request to the last answer.
    pub elapsed_ms: u64,
    /// Answered requests per second, over every round.
    pub req_per_s: f64,
    /// The same, round by round.
    pub per_round_req_per_s: Vec<f64>,
    /// Latency of answered requests.
    pub latency_ms: Latency,
    /// CPU time per answered request, over every round (µs).
    pub cpu_us_per_request: CpuPerRequest,
    /// wrk's figures on the same node and endpoint, with `--wrk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrk: Option<WrkFigures>,
}

impl EndpointBench {
    /// Non-2xx answers plus requests without an answer.
    pub fn errors(&self) -> u64 {
        self.non_2xx + self.failed
    }
}

/// CPU time per answered request (µs) of each process that served it, read
/// from `/proc` ([`crate::cpu`]); `None` where it could not be read (no
/// `/proc`, or a Redis the harness did not start).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CpuPerRequest {
    /// The node under load, every thread.
    pub node: Option<f64>,
    /// `redis-server` (it runs during every side's turn; the sides that do
    /// not use it show what it spends idle).
    pub redis: Option<f64>,
    /// The load generator: this process.
    pub generator: Option<f64>,
}

/// What wrk measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WrkFigures {
    /// The command that ran.
    pub command: String,
    /// Requests per second.
    pub req_per_s: f64,
    /// Requests completed.
    pub requests: u64,
    /// Latency percentiles (ms).
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// "Non-2xx or 3xx responses".
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors, summed.
    pub socket_errors: u64,
}

/// One side's req/s over the stateful side's, for one endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The side compared with stateful.
    pub side: Side,
    /// side req/s ÷ stateful req/s (harness figures): the median of the
    /// per-round ratios, so a busy moment weighs on both sides of a ratio.
    pub harness: f64,
    /// The ratio in each round.
    pub per_round: Vec<f64>,
    /// The same from wrk's figures, with `--wrk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrk: Option<f64>,
}

/// A ratio's floor and whether the measured ratio kept above it.
#[derive(Clone, Debug, Serialize)]
pub struct Floor {
    /// The floor, in words.
    pub floor: String,
    /// What was measured.
    pub measured: f64,
    /// Whether the measured ratio is at or above the floor.
    pub held: bool,
}

/// The plain-text table, the ratios, the floor and any errors.
pub fn table(report: &BenchReport) -> String {
    let with_wrk = report.sides.iter().flat_map(|s| &s.endpoints).any(|e| e.wrk.is_some());
    let mut header: Vec<String> =
        ["side", "endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx", "failed", "node µs", "redis µs", "load µs"]
            .map(String::from)
            .to_vec();
    if with_wrk {
        header.extend(["wrk req/s", "wrk p50", "wrk p99"].map(String::from));
    }
    let cpu = |us: Option<f64>| us.map_or_else(|| "-".to_string(), |us| format!("{us:.1}"));
    let mut rows = Vec::new();
    for side in &report.sides {
        for e in &side.endpoints {
            let mut row = vec![
                side.side.name().to_string(),
                e.endpoint.name().to_string(),
                format!("{:.0}", e.req_per_s),
                format!("{:.3}", e.latency_ms.p50),
                format!("{:.3}", e.latency_ms.p99),
                e.non_2xx.to_string(),
                e.failed.to_string(),
                cpu(e.cpu_us_per_request.node),
                cpu(e.cpu_us_per_request.redis),
                cpu(e.cpu_us_per_request.generator),
            ];
            if let Some(w) = &e.wrk {
                row.extend([format!("{:.0}", w.req_per_s), format!("{:.3}", w.p50_ms), format!("{:.3}", w.p99_ms)]);
            }
            rows.push(row);
        }
    }
    let mut out = crate::table::plain(header, rows, 2);
    out.push_str(
        "(µs columns: CPU time per answered request of the node, of redis-server and of the load generator, \
         every thread, from /proc)\n",
    );
    if !report.ratios.is_empty() {
        out.push_str("\nreq/s over stateful (harness, median of rounds");
        out.push_str(if with_wrk { "; wrk)\n" } else { ")\n" });
        for r in &report.ratios {
            let _ = write!(
                out,
                "  {:<17} {:<13} {:>5.2}×",
                format!("{}/stateful", r.side.name()),
                r.endpoint.name(),
                r.harness
            );
            if let Some(w) = r.wrk {
                let _ = write!(out, "  (wrk {w:.2}×)");
            }
            out.push('\n');
        }
    }
    if let Some(floor) = &report.me_floor {
        let _ = writeln!(
            out,
            "\nfloor {}: {:.2}× ({})",
            floor.floor,
            floor.measured,
            if floor.held { "held" } else { "below the floor" }
        );
    }
    let wrk_errors: u64 = report
        .sides
        .iter()
        .flat_map(|s| &s.endpoints)
        .filter_map(|e| e.wrk.as_ref())
        .map(|w| w.non_2xx + w.socket_errors)
        .sum();
    if report.errors > 0 || wrk_errors > 0 {
        let _ = writeln!(
            out,
            "\nWARNING: this bench saw errors ({} from the harness, {wrk_errors} from wrk): its rates include failed requests.",
            report.errors
        );
    }
    out
}
