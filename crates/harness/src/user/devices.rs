//! A user with two devices (`logout-everywhere`): a laptop and a phone, say.
//!
//! Each device is a browser of its own: its own cookie jar, its own login,
//! its own session, and its own route. The load balancer sees two clients,
//! so under sticky routing each device is pinned on its own
//! ([`device_key`]): the two sessions of one user may well live on two
//! different nodes. That is what happens to a real user, and it is what the
//! scenario is about.
//!
//! One task plays both devices, taking turns: device 0 one request, device
//! 1 the next, a think time between two turns. Each logs in first, then
//! reads `GET /me` in a loop. At [`LOGOUT_EVERYWHERE_AT`] of the run, on
//! its next turn, device 0 opens the user's "sessions" page (`GET
//! /sessions`, how many sessions it lists is kept) and ends them all
//! (`DELETE /sessions`):
//!
//! - 204: every session the node could reach is ended, this device's
//!   included (its cookie is cleared); the answer says how many
//!   (`X-Sessions-Ended`) and how far the node could reach
//!   (`X-Sessions-Reach`: `node` or `everywhere`);
//! - 501: the side cannot do it (the token twin without a deny list); the
//!   device then logs itself out (`POST /logout`), which is all it can do;
//! - no answer or a 5xx: it tries again on its next turn;
//! - any other status is kept and the device stops.
//!
//! Device 0 stops once the logout is answered. Device 1 goes on reading
//! `/me`: every request it starts after the logout returned is a check of
//! whether its session outlived it (the two devices take turns in one task,
//! so no request of device 1 is in flight while device 0's logout is). A
//! device that gets a 401 stops: it does not log in again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::{CookieJar, Crowd, User};
use crate::metrics::{DeviceRecord, EverywhereLogout, UserRecord};

/// How far into the run (a fraction of its duration) users end every
/// session.
pub const LOGOUT_EVERYWHERE_AT: f64 = 0.4;
/// Devices per user.
const DEVICES: usize = 2;

/// The key the load balancer routes device `device` of user `index` on:
/// one per device, so that each device is routed (and, sticky, pinned) on
/// its own, as two browsers are.
pub fn device_key(index: usize, device: usize) -> usize {
    index * DEVICES + device
}

/// What a device is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not logged in yet (or its login got no answer).
    LoggingIn,
    /// Using its session.
    Active,
    /// Logged out, ended, or refused: it sends nothing more.
    Stopped,
}

/// One device: what it holds between its turns.
struct Device {
    key: usize,
    jar: CookieJar,
    state: State,
    session_node: String,
    last_status: Option<StatusCode>,
    record: DeviceRecord,
}

impl Device {
    fn new(key: usize) -> Device {
        Device {
            key,
            jar: CookieJar::default(),
            state: State::LoggingIn,
            session_node: String::new(),
            last_status: None,
            record: DeviceRecord::default(),
        }
    }
}

/// Plays user `index`'s two devices from `start_after` until the crowd's
/// duration ends, both devices have stopped, or the user has sent
/// `max_requests`; returns what it saw, with one [`DeviceRecord`] per device.
pub(super) async fn play(crowd: Arc<Crowd>, index: usize, start_after: Duration) -> UserRecord {
    let mut user = User::new(crowd, index);
    let mut devices: Vec<Device> = (0..DEVICES).map(|d| Device::new(device_key(index, d))).collect();
    tokio::time::sleep_until(user.crowd.clock.at(start_after).into()).await;
    let end = user.crowd.clock.at(user.crowd.duration);
    let logout_at = user.crowd.clock.at(user.crowd.duration.mul_f64(LOGOUT_EVERYWHERE_AT));
    let mut turn = 0_usize;
    while Instant::now() < end
        && user.record.requests < user.crowd.max_requests
        && devices.iter().any(|d| d.state != State::Stopped)
    {
        let which = turn % DEVICES;
        turn += 1;
        let device = &mut devices[which];
        if device.state == State::Stopped {
            continue;
        }
        let logout_due = which == 0 && Instant::now() >= logout_at;
        user.take_turn(device, logout_due).await;
        let think = user.crowd.think.mul_f64(user.rng.random_range(0.5..1.5));
        let wake = (Instant::now() + think).min(end);
        tokio::time::sleep_until(wake.into()).await;
    }
    for device in &mut devices {
        device.record.alive_at_end = device.state == State::Active && device.last_status == Some(StatusCode::OK);
    }
    user.record.devices = devices.into_iter().map(|d| d.record).collect();
    user.record
}

impl User {
    /// One turn of `device`: the user's jar, route and login state become
    /// the device's for its request(s), and go back to it after.
    async fn take_turn(&mut self, device: &mut Device, logout_due: bool) {
        std::mem::swap(&mut self.jar, &mut device.jar);
        std::mem::swap(&mut self.session_node, &mut device.session_node);
        self.index = device.key;
        self.logged_in = device.state == State::Active;
        match device.state {
            State::LoggingIn => self.device_login(device).await,
            State::Active if logout_due && self.record.everywhere.is_none() => self.end_every_session(device).await,
            State::Active => self.device_read_me(device).await,
            State::Stopped => {}
        }
        std::mem::swap(&mut self.jar, &mut device.jar);
        std::mem::swap(&mut self.session_node, &mut device.session_node);
    }

    async fn device_login(&mut self, device: &mut Device) {
        self.login().await;
        if self.logged_in {
            device.state = State::Active;
            device.record.logged_in_ms = Some(self.crowd.clock.t_ms());
            device.record.session_node = Some(self.session_node.clone());
        }
    }

    async fn device_read_me(&mut self, device: &mut Device) {
        let t_ms = self.crowd.clock.t_ms();
        let answer = self.send(Method::GET, "/me", None).await;
        let Some(status) = answer.status else {
            return;
        };
        device.last_status = Some(status);
        let after_logout = self.record.everywhere.as_ref().is_some_and(|e| t_ms >= e.returned_ms);
        if after_logout {
            device.record.answered_after_logout += 1;
        }
        if status == StatusCode::OK {
            device.record.last_ok_ms = Some(t_ms);
            if after_logout {
                device.record.ok_after_logout += 1;
            }
        }
        // A 401 after login was counted as a forced logout by `absorb`; the
        // device does not log in again.
        if !self.logged_in {
            device.state = State::Stopped;
            device.record.ended_ms = Some(t_ms);
        }
    }

    /// The user's "sessions" page, then "log out everywhere".
    async fn end_every_session(&mut self, device: &mut Device) {
        let listed = self.send(Method::GET, "/sessions", None).await;
        if !self.logged_in {
            // The device's own session is gone already (a 401).
            device.state = State::Stopped;
            return;
        }
        let listed = match listed.status {
            Some(StatusCode::OK) => listed.body.as_ref().and_then(|b| b.get("sessions")?.as_array().map(Vec::len)),
            _ => None,
        };
        let asked_ms = self.crowd.clock.t_ms();
        let answer = self.send(Method::DELETE, "/sessions", None).await;
        let returned_ms = self.crowd.clock.t_ms();
        let status = match answer.status {
            None => return,
            Some(status) if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED => return,
            Some(status) => status,
        };
        if status == StatusCode::UNAUTHORIZED {
            device.state = State::Stopped;
            return;
        }
        self.record.everywhere = Some(EverywhereLogout {
            asked_ms,
            returned_ms,
            status: status.as_u16(),
            ended: header(&answer.headers, "x-sessions-ended").and_then(|n| n.parse().ok()),
            reach: header(&answer.headers, "x-sessions-reach"),
            node: answer.node,
            listed,
        });
        if status == StatusCode::NOT_IMPLEMENTED {
            // All this device can do: end its own session.
            self.send(Method::POST, "/logout", None).await;
        }
        // The server cleared the cookie; a browser that logged out forgets
        // it either way.
        self.jar.clear();
        self.logged_in = false;
        device.state = State::Stopped;
    }
}

/// A header's value as text.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{LoadBalancer, Policy, Router};

    #[test]
    fn every_device_of_every_user_has_a_key_of_its_own() {
        let keys: std::collections::HashSet<usize> =
            (0..50).flat_map(|user| (0..DEVICES).map(move |d| device_key(user, d))).collect();
        assert_eq!(keys.len(), 50 * DEVICES);
    }

    #[test]
    fn sticky_routing_pins_each_device_on_its_own() {
        let router = Router::new(Policy::Sticky, (1..=2).map(|i| (format!("n{i}"), format!("http://127.0.0.1:{i}"))));
        // The user's two devices log in one after the other: the second is
        // a new client to the load balancer, pinned to the next node.
        let laptop = router.route(device_key(7, 0)).unwrap().url;
        let phone = router.route(device_key(7, 1)).unwrap().url;
        assert_ne!(laptop, phone, "the second device was pinned with the first");
        for _ in 0..5 {
            assert_eq!(router.route(device_key(7, 0)).unwrap().url, laptop);
            assert_eq!(router.route(device_key(7, 1)).unwrap().url, phone);
        }
    }
}
