//! The per-kind numbers of one side, from its users' ledgers: the report's
//! fields, the table's rows and the verdict's sentences.
//!
//! Every field is absent where the run did not exercise its kind (`None`,
//! skipped in the JSON), and a number (0 when nothing was lost) where it
//! did.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::metrics::{Latency, UserRecord, new_histogram};
use crate::mix::ORDERS_DEADLINE;
use crate::report::{Report, SideReport};
use crate::user::live::LiveRecord;

/// A message said within this long after a member joined is not held
/// against it (the two clocks are two tasks' readings of one clock).
const JOIN_GRACE_MS: u64 = 100;

/// One side's per-kind numbers (flattened into its report).
#[derive(Clone, Debug, Default, Serialize)]
pub struct KindsReport {
    /// Files the servers accepted (201).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_uploaded: Option<usize>,
    /// Distinct files the ledger says exist that answered 404.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_unreachable: Option<usize>,
    /// Files read back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_reads: Option<u64>,
    /// Reads (or upload answers) whose SHA-256 was not what was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_digest_mismatches: Option<u64>,
    /// Orders the servers accepted (202).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders_placed: Option<usize>,
    /// Accepted orders never seen done: not done by the deadline after the
    /// run's end, or answered 404.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders_lost: Option<usize>,
    /// Orders whose `confirmations` went above 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders_done_twice: Option<usize>,
    /// Orders whose job a worker processed to the end more than once
    /// (`deliveries` > 1: redelivered after a worker finished it but
    /// before the broker heard so), whose effect the idempotency key kept
    /// single. A job whose worker died mid-work is redelivered too, but
    /// only finished once, so it is not counted here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders_processed_twice: Option<usize>,
    /// Time from order to done (the server's `done_at - placed_at`), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_to_done_ms: Option<Latency>,
    /// How long pending orders got after the run's end, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders_deadline_s: Option<u64>,
    /// Users whose socket got into their room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_members: Option<usize>,
    /// Messages said (heard by at least one member).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_messages_said: Option<usize>,
    /// Deliveries owed: each message, once per other member in the room
    /// when it was said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_messages_expected: Option<u64>,
    /// Of those, never heard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_messages_missed: Option<u64>,
    /// Of the missed, said while the member was reconnecting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_missed_while_reconnecting: Option<u64>,
    /// Sockets that dropped without the user closing them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_connections_dropped: Option<usize>,
    /// From a drop to the next open socket, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_reconnect_ms: Option<Latency>,
    /// Reconnects after which a message said during the drop was never heard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_reconnect_gaps: Option<usize>,
}

impl KindsReport {
    /// The numbers of the kinds `users` exercised.
    pub fn of(users: &[UserRecord]) -> KindsReport {
        let mut report = KindsReport::default();
        files(users, &mut report);
        orders(users, &mut report);
        live(users, &mut report);
        report
    }
}

fn files(users: &[UserRecord], report: &mut KindsReport) {
    let ledgers: Vec<_> = users.iter().filter_map(|u| u.kinds.files.as_ref()).collect();
    if ledgers.is_empty() {
        return;
    }
    report.files_uploaded = Some(ledgers.iter().map(|f| f.held.len()).sum());
    report.files_unreachable = Some(ledgers.iter().map(|f| f.unreachable.len()).sum());
    report.files_reads = Some(ledgers.iter().map(|f| f.reads).sum());
    report.files_digest_mismatches = Some(ledgers.iter().map(|f| f.digest_mismatches).sum());
}

fn orders(users: &[UserRecord], report: &mut KindsReport) {
    let ledgers: Vec<_> = users.iter().filter_map(|u| u.kinds.orders.as_ref()).collect();
    if ledgers.is_empty() {
        return;
    }
    let placed: Vec<_> = ledgers.iter().flat_map(|o| &o.placed).collect();
    let mut to_done = new_histogram();
    for ms in placed.iter().filter_map(|o| o.to_done_ms) {
        to_done.saturating_record(ms.saturating_mul(1000).max(1));
    }
    report.orders_placed = Some(placed.len());
    report.orders_lost = Some(placed.iter().filter(|o| !o.done).count());
    report.orders_done_twice = Some(placed.iter().filter(|o| o.confirmations > 1).count());
    report.orders_processed_twice = Some(placed.iter().filter(|o| o.deliveries > 1).count());
    report.order_to_done_ms = Some(Latency::of(&to_done));
    report.orders_deadline_s = Some(ORDERS_DEADLINE.as_secs());
}

/// What one room's members missed.
#[derive(Default)]
struct Missed {
    expected: u64,
    missed: u64,
    while_reconnecting: u64,
    gaps: usize,
    said: usize,
}

fn live(users: &[UserRecord], report: &mut KindsReport) {
    let records: Vec<&LiveRecord> = users.iter().filter_map(|u| u.kinds.live.as_ref()).collect();
    if records.is_empty() {
        return;
    }
    let mut rooms: BTreeMap<&str, Vec<&LiveRecord>> = BTreeMap::new();
    for record in &records {
        rooms.entry(record.room.as_str()).or_default().push(record);
    }
    let mut total = Missed::default();
    for members in rooms.values() {
        let room = room_missed(members);
        total.expected += room.expected;
        total.missed += room.missed;
        total.while_reconnecting += room.while_reconnecting;
        total.gaps += room.gaps;
        total.said += room.said;
    }
    let mut reconnect = new_histogram();
    for drop in records.iter().flat_map(|r| &r.drops) {
        if let Some(back) = drop.back_ms {
            reconnect.saturating_record(back.saturating_sub(drop.t_ms).saturating_mul(1000).max(1));
        }
    }
    report.live_members = Some(records.iter().filter(|r| r.joined_ms.is_some()).count());
    report.live_messages_said = Some(total.said);
    report.live_messages_expected = Some(total.expected);
    report.live_messages_missed = Some(total.missed);
    report.live_missed_while_reconnecting = Some(total.while_reconnecting);
    report.live_connections_dropped = Some(records.iter().map(|r| r.drops.len()).sum());
    report.live_reconnect_ms = Some(Latency::of(&reconnect));
    report.live_reconnect_gaps = Some(total.gaps);
}

/// Checks every member of one room against what the others said while it
/// was in the room. A message counts as said when anyone heard it (its
/// sender included): one written to a socket that was already dying never
/// reached the room.
fn room_missed(members: &[&LiveRecord]) -> Missed {
    let heard_by_anyone: HashSet<&str> = members.iter().flat_map(|m| m.heard.iter().map(String::as_str)).collect();
    let mut result = Missed {
        said: members.iter().flat_map(|m| &m.said).filter(|s| heard_by_anyone.contains(s.text.as_str())).count(),
        ..Missed::default()
    };
    for (index, member) in members.iter().enumerate() {
        let Some(joined) = member.joined_ms else {
            continue;
        };
        let mut gap_drops = HashSet::new();
        for (other, speaker) in members.iter().enumerate() {
            if other == index {
                continue;
            }
            let owed = speaker.said.iter().filter(|s| {
                heard_by_anyone.contains(s.text.as_str())
                    && s.t_ms >= joined + JOIN_GRACE_MS
                    && s.t_ms <= member.left_ms
            });
            for said in owed {
                result.expected += 1;
                if member.heard.contains(&said.text) {
                    continue;
                }
                result.missed += 1;
                let during = member.drops.iter().position(|d| {
                    said.t_ms >= d.t_ms && said.t_ms <= d.back_ms.unwrap_or(member.left_ms) + JOIN_GRACE_MS
                });
                if let Some(drop) = during {
                    result.while_reconnecting += 1;
                    gap_drops.insert(drop);
                }
            }
        }
        result.gaps += gap_drops.len();
    }
    result
}

/// The table's rows for the kinds any side exercised.
pub fn rows(sides: &[SideReport]) -> Vec<(String, Vec<String>)> {
    let mut rows = Vec::new();
    let mut row = |label: &str, cell: &dyn Fn(&KindsReport) -> Option<String>| {
        let cells: Vec<Option<String>> = sides.iter().map(|s| cell(&s.kinds)).collect();
        if cells.iter().any(Option::is_some) {
            rows.push((label.to_string(), cells.into_iter().map(|c| c.unwrap_or_else(|| "-".into())).collect()));
        }
    };
    row("files unreachable", &|k| Some(format!("{} of {}", k.files_unreachable?, k.files_uploaded?)));
    row("file digest mismatches", &|k| Some(k.files_digest_mismatches?.to_string()));
    row("orders lost", &|k| Some(format!("{} of {}", k.orders_lost?, k.orders_placed?)));
    row("orders done twice", &|k| Some(k.orders_done_twice?.to_string()));
    row("orders processed twice", &|k| Some(k.orders_processed_twice?.to_string()));
    row("order to done p50 / p99", &|k| {
        let t = k.order_to_done_ms?;
        Some(format!("{:.0} / {:.0} ms", t.p50, t.p99))
    });
    row("live messages missed", &|k| Some(format!("{} of {}", k.live_messages_missed?, k.live_messages_expected?)));
    row("missed while reconnecting", &|k| Some(k.live_missed_while_reconnecting?.to_string()));
    row("live connections dropped", &|k| Some(k.live_connections_dropped?.to_string()));
    row("reconnect p50 / p99", &|k| {
        let t = k.live_reconnect_ms?;
        Some(match k.live_connections_dropped? {
            0 => "-".to_string(),
            _ => format!("{:.0} / {:.0} ms", t.p50, t.p99),
        })
    });
    row("reconnects with a gap", &|k| Some(k.live_reconnect_gaps?.to_string()));
    rows
}

/// One sentence per kind and side, with the measured numbers.
pub fn verdict(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for side in &report.sides {
        let k = &side.kinds;
        if let (Some(unreachable), Some(uploaded)) = (k.files_unreachable, k.files_uploaded) {
            lines.push(format!(
                "{}: {unreachable} of {uploaded} uploaded files were unreachable (404 although the upload \
                 was accepted), {} reads came back with another digest.",
                side.side,
                k.files_digest_mismatches.unwrap_or(0)
            ));
        }
        if let (Some(lost), Some(placed)) = (k.orders_lost, k.orders_placed) {
            let to_done = k.order_to_done_ms.unwrap_or_default();
            lines.push(format!(
                "{}: {lost} of {placed} orders were lost (not done {} s after the end, or 404), {} done twice \
                 ({} processed twice, kept single); order to done p50 {:.0} ms, p99 {:.0} ms.",
                side.side,
                k.orders_deadline_s.unwrap_or(0),
                k.orders_done_twice.unwrap_or(0),
                k.orders_processed_twice.unwrap_or(0),
                to_done.p50,
                to_done.p99
            ));
        }
        if let (Some(missed), Some(expected)) = (k.live_messages_missed, k.live_messages_expected) {
            let reconnect = k.live_reconnect_ms.unwrap_or_default();
            let drops = match k.live_connections_dropped.unwrap_or(0) {
                0 => "no socket dropped".to_string(),
                n => format!("{n} sockets dropped, back in p50 {:.0} ms, p99 {:.0} ms", reconnect.p50, reconnect.p99),
            };
            lines.push(format!(
                "{}: room members missed {missed} of {expected} messages said while they were in the room \
                 ({} while reconnecting); {drops}.",
                side.side,
                k.live_missed_while_reconnecting.unwrap_or(0),
            ));
        }
    }
    lines
}
