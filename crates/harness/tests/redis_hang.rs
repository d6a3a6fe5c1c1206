//! redis-hang: Redis frozen (SIGSTOP) for a second under the generator's
//! full load. Every answer meanwhile is a 503 with `Retry-After: 1`, none
//! hangs past the deadline, the nodes' memory, threads and sockets stay
//! near their own baseline, and service comes back by itself after SIGCONT,
//! sessions intact. The same for the Redis twin and the token twin's deny
//! list.

use crate::common;
use harness::metrics::EventKind;
use harness::{Side, scenario};

#[test]
fn a_hung_redis_gets_prompt_503s_and_service_comes_back_by_itself() {
    let report = common::run_sides(&scenario::RedisHang, &[Side::Stateless, Side::TokenRevocation], 16, 5);
    for side in [Side::Stateless, Side::TokenRevocation] {
        let row = common::side(&report, side);
        let n = |key: &str| common::number(row, key);
        assert!(row.events.iter().any(|e| e.kind == EventKind::RedisThawed), "{side}: Redis was not thawed");
        // Every request that met the hang and was not served by Redis
        // before the freeze or after the thaw got a 503, none no answer.
        assert!(n("met_hang_503") > 0.0, "{side}: no 503 while Redis hung");
        assert_eq!(n("met_hang_other"), 0.0, "{side}");
        assert_eq!(n("met_hang_no_answer"), 0.0, "{side}: a request got no answer at all");
        assert!(n("probes_within_hang") >= 1.0, "{side}: no probe was answered while Redis hung");
        assert_eq!(n("probes_503_retry_after_1"), n("probes_within_hang"), "{side}: {:?}", row.findings.get("probes"));
        // Answered within the deadline (1 s) plus scheduling slack, not
        // when Redis came back.
        assert!(n("slowest_answer_ms_while_frozen") < 2500.0, "{side}: {}", n("slowest_answer_ms_while_frozen"));
        // Back by itself, well before the end of the run.
        assert!(n("first_ok_ms_after_thaw") < 1500.0, "{side}");
        assert!(n("recovered_ms_after_thaw") < 1500.0, "{side}");
        // Bounded relative to the node's own figures before the hang.
        assert!(n("rss_kib_peak_frozen") < 1.5 * n("rss_kib_before"), "{side}: memory piled up");
        assert!(n("threads_peak_frozen") <= n("threads_before") + 4.0, "{side}: threads piled up");
        assert!(n("fds_peak_frozen") < 2.0 * n("fds_before") + 16.0, "{side}: sockets piled up");
        assert!(n("redis_queued_bytes_peak_frozen") < 256.0 * 1024.0, "{side}: bytes piled up toward Redis");
        assert_eq!(row.users_logged_out, 0, "{side}: a session was lost");
    }
}
