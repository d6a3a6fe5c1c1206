//! `--wrk`: the same measurement by `wrk -t1`, to check that the harness's
//! own generator is not the bottleneck.

use std::fmt::Write as _;
use std::net::SocketAddr;

use anyhow::{Context, Result, bail};

use super::http::Connection;
use super::report::WrkFigures;
use super::{BenchConfig, Endpoint};
use crate::side::Side;

/// Install hint for `--wrk`.
pub const WRK_INSTALL_HINT: &str = "sudo apt-get install -y wrk";

/// Whether `wrk` is on the PATH.
pub fn wrk_is_installed() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Runs `wrk -t1 -cN -dD --latency` on `endpoint` of the node at `base`,
/// logged in as a user of its own (every wrk connection sends that user's
/// cookie; wrk does not keep re-issued cookies, so on the token side each
/// `POST /cart` adds to the same small cart).
pub(super) async fn run_wrk(
    config: &BenchConfig,
    side: Side,
    addr: SocketAddr,
    endpoint: Endpoint,
) -> Result<WrkFigures> {
    let mut connection = Connection::open(addr).await?;
    connection.log_in("bench-wrk").await.with_context(|| format!("{side}: login for wrk failed"))?;
    let dir = match &config.out_dir {
        Some(dir) => dir.join("wrk"),
        None => std::env::temp_dir().join(format!("harness-bench-wrk-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let script = dir.join(format!("{side}-{}.lua", endpoint.path().trim_start_matches('/')));
    std::fs::write(&script, wrk_script(endpoint, connection.cookie.as_deref()))
        .with_context(|| format!("cannot write {}", script.display()))?;
    let seconds = config.duration.as_secs().max(1);
    let args = vec![
        "-t1".to_string(),
        format!("-c{}", config.connections),
        format!("-d{seconds}s"),
        "--latency".to_string(),
        "-s".to_string(),
        script.display().to_string(),
        format!("http://{addr}{}", endpoint.path()),
    ];
    let output =
        tokio::process::Command::new("wrk").args(&args).kill_on_drop(true).output().await.context("cannot run wrk")?;
    if !output.status.success() {
        bail!("wrk failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut figures = parse_wrk(&text).with_context(|| format!("cannot read wrk's output:\n{text}"))?;
    figures.command = format!("wrk {}", args.join(" "));
    Ok(figures)
}

/// The wrk script (wrk reads Lua) that makes it send `endpoint` with the session cookie.
pub fn wrk_script(endpoint: Endpoint, cookie: Option<&str>) -> String {
    let mut script =
        format!("-- Written by `harness bench --wrk`: {} with one user's session cookie.\n", endpoint.name());
    match endpoint {
        Endpoint::Healthz | Endpoint::Me => script.push_str("wrk.method = \"GET\"\n"),
        Endpoint::Cart => {
            script.push_str("wrk.method = \"POST\"\n");
            script.push_str("wrk.body = '{\"item\":\"book\",\"qty\":1}'\n");
            script.push_str("wrk.headers[\"Content-Type\"] = \"application/json\"\n");
        }
    }
    if endpoint != Endpoint::Healthz
        && let Some(cookie) = cookie
    {
        let _ = writeln!(script, "wrk.headers[\"Cookie\"] = \"{cookie}\"");
    }
    script
}

/// Reads req/s, request count, p50/p99, non-2xx and socket errors from
/// wrk's `--latency` output.
pub fn parse_wrk(text: &str) -> Option<WrkFigures> {
    let mut figures = WrkFigures::default();
    let mut seen_rate = false;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            figures.req_per_s = rest.trim().parse().ok()?;
            seen_rate = true;
        } else if let Some(rest) = line.strip_prefix("50%") {
            figures.p50_ms = wrk_ms(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("99%") {
            figures.p99_ms = wrk_ms(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            figures.non_2xx = rest.trim().parse().ok()?;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            figures.socket_errors =
                rest.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok()).sum();
        } else if line.contains(" requests in ") {
            figures.requests = line.split_whitespace().next()?.parse().ok()?;
        }
    }
    seen_rate.then_some(figures)
}

/// `812.00us`, `1.23ms`, `2.01s`, `1.00m` in milliseconds.
fn wrk_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(value / 1000.0),
        "ms" => Some(value),
        "s" => Some(value * 1000.0),
        "m" => Some(value * 60_000.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:4000/me
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  200.00us   5.00ms   90.00%
    Req/Sec    29.00k     1.00k   31.00k    80.00%
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    1.50ms
     99%    2.01ms
  145000 requests in 5.00s, 30.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  28999.50
Transfer/sec:      6.00MB
";
        let f = parse_wrk(text).unwrap();
        assert_eq!(f.req_per_s, 28999.5);
        assert_eq!(f.requests, 145_000);
        assert!((f.p50_ms - 0.812).abs() < 1e-9);
        assert!((f.p99_ms - 2.01).abs() < 1e-9);
        assert_eq!(f.non_2xx, 7);
        assert_eq!(f.socket_errors, 3);
        assert!(parse_wrk("wrk: connection refused").is_none());
    }

    #[test]
    fn wrk_scripts_send_the_cookie_only_where_a_session_is_needed() {
        let me = wrk_script(Endpoint::Me, Some("sid=abc"));
        assert!(me.contains("wrk.headers[\"Cookie\"] = \"sid=abc\""));
        let cart = wrk_script(Endpoint::Cart, Some("sid=abc"));
        assert!(cart.contains("wrk.method = \"POST\"") && cart.contains("\"qty\":1"));
        assert!(!wrk_script(Endpoint::Healthz, Some("sid=abc")).contains("Cookie"));
    }
}
