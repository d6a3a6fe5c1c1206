//! A modelled capacity per node: service slots, a bounded queue, and the
//! node's recent load.
//!
//! All nodes of a cluster on one machine share its cores, so a node added
//! there adds no real capacity, and a node that "overloads" only slows its
//! neighbours down too. A queueing model gives each node a capacity of its
//! own instead, the way a many-machine cluster has one: a one-machine
//! cluster then saturates node by node and grows with its node count.
//!
//! # The model
//! A node of capacity `C` requests a second with a service time `s` has
//! `slots = max(1, round(C × s))` service slots. Each request holds one slot
//! for `hold = slots / C` (the service time, adjusted so that a saturated
//! node serves exactly `C` a second): the slot is taken before the handler
//! runs, and the answer leaves when the handler is done and `hold` has
//! passed since the slot was taken, so the modelled time includes the real
//! work and the wait is on the request's path. While every slot is busy a
//! request waits in a first-in-first-out queue of
//! `round(C × queue time)` places, which a saturated node empties in about
//! the queue time; a request that finds the queue full is refused at once.
//! The model knows nothing of CPU or memory: it only bounds how many
//! requests a second a node answers.
//!
//! # Load
//! [`Capacity::load`] reports the share of slot-time that was busy over the
//! last second (to within a tenth of one), the requests waiting now and the
//! capacity: what `/healthz` shows and what a load balancer or an
//! autoscaler reads.
//!
//! # Where it applies
//! [`limit`] is the middleware; it covers every request except
//! `/healthz`, which must answer at once even on a saturated node so that a
//! balancer can still read the load. It knows no session store: the three
//! twins get the same model. Without a capacity the application is built
//! without this middleware at all (see `startup`), so it costs nothing.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::errors::ApiError;
use crate::routes::HEALTHZ;

/// The service time when none is given, in milliseconds: about what a
/// request to a web service takes on its server.
pub const DEFAULT_SERVICE_MS: u32 = 50;
/// The longest wait in the queue when none is given, in milliseconds.
pub const DEFAULT_QUEUE_MS: u32 = 500;

/// A node's modelled capacity: the numbers the model is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    capacity: NonZeroU32,
    service: Duration,
    queue: Duration,
}

impl Model {
    /// `capacity` requests a second, each taking about `service`, with a
    /// queue that a saturated node empties in about `queue` (zero: no queue).
    pub fn new(capacity: NonZeroU32, service: Duration, queue: Duration) -> Model {
        Model { capacity, service, queue }
    }

    /// Requests a second a saturated node serves.
    pub fn capacity(&self) -> u32 {
        self.capacity.get()
    }

    /// Service slots: `capacity × service time`, rounded, at least 1.
    pub fn slots(&self) -> u32 {
        self.per_second(self.service).max(1)
    }

    /// How long a request holds its slot: `slots / capacity`, the service
    /// time adjusted so that `slots / hold` is exactly the capacity.
    pub fn hold(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.slots()) / f64::from(self.capacity()))
    }

    /// Places in the queue: `capacity × queue time`, rounded.
    pub fn queue_len(&self) -> u32 {
        self.per_second(self.queue)
    }

    /// `capacity × time`, rounded to the nearest whole request.
    fn per_second(&self, time: Duration) -> u32 {
        let requests = (u128::from(self.capacity()) * time.as_micros() + 500_000) / 1_000_000;
        u32::try_from(requests).unwrap_or(u32::MAX)
    }

    /// The most requests a node holds at once, in slots or queued.
    fn admitted(&self) -> u32 {
        self.slots().saturating_add(self.queue_len())
    }
}

/// A node's recent load, as `/healthz` reports it under `"load"`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Load {
    /// Busy slot-time over the last second as a share of all slot-time,
    /// 0.0 to 1.0, to three decimals.
    pub utilisation: f64,
    /// Requests waiting for a slot now.
    pub queued: u32,
    /// The modelled capacity, in requests a second.
    pub capacity: u32,
}

/// The request was refused: every slot is busy and the queue is full.
#[derive(Debug, PartialEq, Eq)]
pub struct Overloaded;

/// One node's slots, queue and load; shared by all its worker threads.
#[derive(Debug)]
pub struct Capacity {
    model: Model,
    slots: Arc<Semaphore>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Requests admitted and waiting for a slot.
    queued: u32,
    window: Window,
}

impl Capacity {
    /// A node with no request in it yet.
    pub fn new(model: Model) -> Capacity {
        let slots = usize::try_from(model.slots()).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        Capacity {
            model,
            slots: Arc::new(Semaphore::new(slots)),
            state: Mutex::new(State { queued: 0, window: Window::new(Instant::now()) }),
        }
    }

    /// The model this node follows.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Takes a slot, after waiting in the queue if all are busy, or refuses
    /// at once when the queue is full. Dropping the future while it waits
    /// leaves the queue.
    pub async fn admit(self: &Arc<Self>) -> Result<Slot, Overloaded> {
        {
            let mut state = self.state();
            if state.queued.saturating_add(state.window.busy) >= self.model.admitted() {
                return Err(Overloaded);
            }
            state.queued += 1;
        }
        let waiting = Waiting(self);
        let permit = Arc::clone(&self.slots).acquire_owned().await.map_err(|_| Overloaded)?;
        std::mem::forget(waiting);
        let now = Instant::now();
        {
            let mut state = self.state();
            state.queued -= 1;
            state.window.change(now, 1);
        }
        Ok(Slot { capacity: Arc::clone(self), until: now + self.model.hold(), _permit: permit })
    }

    /// The load now.
    pub fn load(&self) -> Load {
        let mut state = self.state();
        let utilisation = state.window.utilisation(Instant::now(), self.model.slots());
        Load {
            utilisation: (utilisation * 1000.0).round() / 1000.0,
            queued: state.queued,
            capacity: self.model.capacity(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a few counters, consistent after every statement:
        // a panic elsewhere cannot leave it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A queued request's place; gives it back if the request goes away.
struct Waiting<'a>(&'a Capacity);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.state().queued -= 1;
    }
}

/// A service slot, held until dropped.
#[derive(Debug)]
pub struct Slot {
    capacity: Arc<Capacity>,
    until: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// Waits out the rest of the hold time, then frees the slot.
    pub async fn finish(self) {
        tokio::time::sleep_until(self.until).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Counted free before the permit goes back, so that the next
        // request's "busy + 1" never sees more busy slots than there are.
        self.capacity.state().window.change(Instant::now(), -1);
    }
}

/// The middleware: every request but `/healthz` takes a slot, or waits for
/// one, or is answered 503 `{"error":"overloaded"}` with `Retry-After: 1`.
pub async fn limit<B: MessageBody>(
    capacity: Arc<Capacity>,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if req.path() == HEALTHZ {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    match capacity.admit().await {
        Ok(slot) => {
            let response = next.call(req).await;
            slot.finish().await;
            response.map(ServiceResponse::map_into_left_body)
        }
        Err(Overloaded) => {
            tracing::debug!("overloaded: every slot busy and the queue full");
            Ok(req.error_response(ApiError::Overloaded).map_into_right_body())
        }
    }
}

/// Busy slot-time in buckets of a tenth of a second, the last ten kept.
#[derive(Debug)]
struct Window {
    /// When measuring began; bucket `i` starts at `start + i × BUCKET`.
    start: Instant,
    /// Busy slot-time is counted up to here.
    counted: Instant,
    /// Slots busy since `counted`.
    busy: u32,
    /// (bucket number, busy slot-nanoseconds in it), at `number % BUCKETS`.
    buckets: [(u64, u64); BUCKETS],
}

const BUCKET: Duration = Duration::from_millis(100);
const BUCKETS: usize = 10;

impl Window {
    fn new(now: Instant) -> Window {
        Window { start: now, counted: now, busy: 0, buckets: [(0, 0); BUCKETS] }
    }

    /// `delta` slots became busy (1) or free (-1) at `now`.
    fn change(&mut self, now: Instant, delta: i32) {
        self.advance(now);
        self.busy = self.busy.saturating_add_signed(delta);
    }

    /// Counts the busy slot-time up to `now`.
    fn advance(&mut self, now: Instant) {
        if now <= self.counted {
            return;
        }
        let oldest_kept = self.bucket_start(self.bucket(now).saturating_sub(BUCKETS as u64 - 1));
        let mut from = self.counted.max(oldest_kept);
        while from < now {
            let bucket = self.bucket(from);
            let to = now.min(self.bucket_start(bucket + 1));
            let busy_ns = u64::from(self.busy).saturating_mul(nanos(to - from));
            let kept = &mut self.buckets[bucket as usize % BUCKETS];
            if kept.0 != bucket {
                *kept = (bucket, 0);
            }
            kept.1 = kept.1.saturating_add(busy_ns);
            from = to;
        }
        self.counted = now;
    }

    /// The busy share of `slots` over the last second up to `now` (the
    /// current bucket and the nine before it, or since `start` if younger).
    fn utilisation(&mut self, now: Instant, slots: u32) -> f64 {
        self.advance(now);
        let current = self.bucket(now);
        let first = current.saturating_sub(BUCKETS as u64 - 1);
        let busy_ns: u64 =
            self.buckets.iter().filter(|(bucket, _)| (first..=current).contains(bucket)).map(|(_, ns)| ns).sum();
        let span_ns = nanos(now - self.bucket_start(first));
        if span_ns == 0 {
            return if self.busy > 0 { 1.0 } else { 0.0 };
        }
        (busy_ns as f64 / (f64::from(slots) * span_ns as f64)).min(1.0)
    }

    fn bucket(&self, at: Instant) -> u64 {
        u64::try_from((at - self.start).as_nanos() / BUCKET.as_nanos()).unwrap_or(u64::MAX)
    }

    fn bucket_start(&self, bucket: u64) -> Instant {
        self.start + BUCKET * u32::try_from(bucket).unwrap_or(u32::MAX)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::Poll;

    use super::*;

    fn model(capacity: u32, service_ms: u64, queue_ms: u64) -> Model {
        Model::new(
            NonZeroU32::new(capacity).unwrap(),
            Duration::from_millis(service_ms),
            Duration::from_millis(queue_ms),
        )
    }

    #[test]
    fn slots_are_capacity_times_service_time_rounded_and_at_least_one() {
        assert_eq!(model(200, 50, 0).slots(), 10);
        assert_eq!(model(100, 25, 0).slots(), 3, "2.5 rounds up");
        assert_eq!(model(100, 24, 0).slots(), 2, "2.4 rounds down");
        assert_eq!(model(3, 10, 0).slots(), 1, "never fewer than one slot");
    }

    #[test]
    fn the_hold_time_makes_a_saturated_node_serve_exactly_its_capacity() {
        for (capacity, service_ms) in [(200, 50), (100, 25), (3, 10), (7, 1000)] {
            let m = model(capacity, service_ms, 0);
            let served_per_second = f64::from(m.slots()) / m.hold().as_secs_f64();
            assert!((served_per_second - f64::from(capacity)).abs() < 1e-6, "{m:?}: {served_per_second}");
        }
        assert_eq!(model(200, 50, 0).hold(), Duration::from_millis(50));
        assert_eq!(model(3, 10, 0).hold().as_millis(), 333, "one slot at 3 a second is held a third of a second");
    }

    #[test]
    fn the_queue_holds_what_a_saturated_node_serves_in_the_queue_time() {
        assert_eq!(model(200, 50, 500).queue_len(), 100);
        assert_eq!(model(10, 50, 250).queue_len(), 3, "2.5 rounds up");
        assert_eq!(model(10, 50, 0).queue_len(), 0, "no queue: refused when every slot is busy");
        assert_eq!(model(200, 50, 500).admitted(), 110);
    }

    #[test]
    fn utilisation_is_busy_slot_time_over_the_last_second() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut window = Window::new(start);
        assert_eq!(window.utilisation(at(500), 2), 0.0);
        // One of two slots busy from 0.5 s on. At 1.0 s the window is the
        // tenth that just began and the nine before it, 0.1 s to 1.0 s.
        window.change(at(500), 1);
        assert!((window.utilisation(at(1000), 2) - 0.5 / (2.0 * 0.9)).abs() < 1e-9);
        // At 1.5 s it is 0.6 s to 1.5 s, all of it with one slot of two busy.
        window.change(at(1500), -1);
        assert!((window.utilisation(at(1500), 2) - 0.5).abs() < 1e-9);
        // Both busy for a whole second: full.
        window.change(at(2000), 2);
        assert!((window.utilisation(at(3000), 2) - 1.0).abs() < 1e-9);
        window.change(at(3000), -2);
        // A second later nothing of it is left.
        assert_eq!(window.utilisation(at(4100), 2), 0.0);
    }

    #[test]
    fn a_slot_held_across_a_long_gap_counts_as_busy_throughout() {
        let start = Instant::now();
        let mut window = Window::new(start);
        window.change(start, 1);
        let later = start + Duration::from_secs(3600);
        assert!((window.utilisation(later, 1) - 1.0).abs() < 1e-9);
        window.change(later, -1);
        assert_eq!(window.utilisation(later + Duration::from_secs(2), 1), 0.0);
    }

    #[tokio::test]
    async fn requests_take_free_slots_then_queue_then_are_refused() {
        // Two slots and one place in the queue.
        let capacity = Arc::new(Capacity::new(model(20, 100, 50)));
        assert_eq!((capacity.model().slots(), capacity.model().queue_len()), (2, 1));
        let first = capacity.admit().await.expect("a free slot");
        let second = capacity.admit().await.expect("a free slot");
        let mut third = pin!(capacity.admit());
        assert!(futures::poll!(third.as_mut()).is_pending(), "every slot is busy: it waits");
        assert_eq!(capacity.load().queued, 1);
        assert_eq!(capacity.admit().await.unwrap_err(), Overloaded, "the queue is full");
        drop(first);
        let Poll::Ready(Ok(third)) = futures::poll!(third.as_mut()) else { panic!("a freed slot goes to the queue") };
        assert_eq!(capacity.load().queued, 0);
        let mut fourth = pin!(capacity.admit());
        assert!(futures::poll!(fourth.as_mut()).is_pending());
        drop((second, third));
        assert!(matches!(futures::poll!(fourth.as_mut()), Poll::Ready(Ok(_))));
    }

    #[tokio::test]
    async fn a_request_that_goes_away_while_queued_leaves_the_queue() {
        let capacity = Arc::new(Capacity::new(model(10, 100, 100)));
        let held = capacity.admit().await.expect("a free slot");
        {
            let mut waiting = pin!(capacity.admit());
            assert!(futures::poll!(waiting.as_mut()).is_pending());
            assert_eq!(capacity.load().queued, 1);
        }
        assert_eq!(capacity.load().queued, 0);
        drop(held);
        assert!(capacity.admit().await.is_ok());
    }

    #[tokio::test]
    async fn a_slot_is_held_for_the_hold_time_and_counts_as_busy() {
        let capacity = Arc::new(Capacity::new(model(10, 100, 100)));
        assert_eq!(capacity.load(), Load { utilisation: 0.0, queued: 0, capacity: 10 });
        let taken = Instant::now();
        capacity.admit().await.unwrap().finish().await;
        assert!(taken.elapsed() >= capacity.model().hold(), "the slot is held for the hold time");
        // The one slot was busy for nearly all of the node's short life.
        let load = capacity.load();
        assert!(load.utilisation > 0.5 && load.utilisation <= 1.0, "{load:?}");
    }
}
