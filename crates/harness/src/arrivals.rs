//! Open-loop load: users arrive at a rate, each plays one session, and
//! leaves.
//!
//! The closed-loop crowd of [`crate::user`] waits for each answer before it
//! thinks and asks again, so a slow node slows its own users down and the
//! offered load falls just when it matters: the queue hides itself
//! (coordinated omission). Here the load is set from outside, as on a real
//! site: users arrive in a seeded Poisson process whose rate follows a
//! [`RateSchedule`] (it can ramp or step over the run), each logs in, sends
//! a number of requests spaced by a think time, and leaves. A request's
//! latency is taken from the moment it was *meant* to start, so a request
//! that had to wait for the previous one's late answer counts that wait.
//!
//! The schedule is given in requests a second (what a node's capacity is
//! measured in); users arrive at `rate / (1 + requests per session)` a
//! second, the login being one request.
//!
//! **Skewed users** ([`Skew::Zipf`]): each arriving user draws a class
//! from a Zipf spread of request rates (class `k` of [`ZIPF_CLASSES`] sends
//! in proportion to `1 / k`), normalised so the mean user sends as many
//! requests as a uniform one: a few heavy users, many light ones, the same
//! total. A heavy user packs more requests into its session, down to one
//! every [`MIN_GAP`] on average, and beyond that stays longer. That is where
//! sticky routing hurts: a node that drew a few heavy users is hot while
//! its neighbours idle.
//!
//! Every schedule is bounded: arrivals stop at the run's end and at
//! [`OpenLoop::max_arrivals`], each session at its own request count and at
//! the run's end.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Rate classes of the Zipf spread.
pub const ZIPF_CLASSES: usize = 20;
/// Exponent of the Zipf spread (1: class `k` sends in proportion to `1/k`).
pub const ZIPF_EXPONENT: f64 = 1.0;
/// The shortest mean pause between two requests of one user: a person's
/// pace, and well above a node's modelled service time, so one user alone
/// never queues behind itself. A heavy user whose rate would be higher
/// stays longer instead.
pub const MIN_GAP: Duration = Duration::from_millis(150);
/// Most arrivals one side's run plans, whatever the rate and duration.
pub const MAX_ARRIVALS: usize = 50_000;

/// How request rates are spread over users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Skew {
    /// Every user sends at the same mean rate.
    #[default]
    Uniform,
    /// A Zipf spread: a few heavy users, many light ones.
    Zipf,
}

impl std::fmt::Display for Skew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Skew::Uniform => "uniform",
            Skew::Zipf => "zipf",
        })
    }
}

/// Requests a second over the run, piecewise linear between points given
/// as (fraction of the run, rate); two points at the same fraction make a
/// step. Before the first point the first rate holds, after the last the
/// last.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RateSchedule {
    points: Vec<(f64, f64)>,
}

impl RateSchedule {
    /// A constant rate.
    pub fn constant(rate: f64) -> RateSchedule {
        RateSchedule { points: vec![(0.0, rate)] }
    }

    /// From `from` at the start to `to` at `until` (a fraction of the run),
    /// then `to`.
    pub fn ramp(from: f64, to: f64, until: f64) -> RateSchedule {
        RateSchedule { points: vec![(0.0, from), (until, to)] }
    }

    /// Piecewise constant: `(from fraction, rate)` steps, in order.
    pub fn steps(steps: &[(f64, f64)]) -> RateSchedule {
        let mut points = Vec::with_capacity(steps.len() * 2);
        for (i, &(at, rate)) in steps.iter().enumerate() {
            if i > 0 {
                points.push((at, steps[i - 1].1));
            }
            points.push((at, rate));
        }
        RateSchedule { points }
    }

    /// The rate at `fraction` of the run.
    pub fn at(&self, fraction: f64) -> f64 {
        let Some(&(first_at, first)) = self.points.first() else {
            return 0.0;
        };
        if fraction < first_at {
            return first;
        }
        for pair in self.points.windows(2) {
            let ((a, ra), (b, rb)) = (pair[0], pair[1]);
            if fraction < b && b > a {
                return ra + (rb - ra) * (fraction - a) / (b - a);
            }
        }
        self.points.last().map_or(0.0, |p| p.1)
    }

    /// The highest rate anywhere in the schedule.
    pub fn peak(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }
}

/// An open-loop load: who arrives when and what each does.
#[derive(Clone, Debug, Serialize)]
pub struct OpenLoop {
    /// Requests a second over the run (logins included).
    pub rate: RateSchedule,
    /// Requests after the login, for a user of mean weight.
    pub requests: u32,
    /// How long a session lasts: its requests are spread over it.
    #[serde(serialize_with = "as_ms")]
    pub session: Duration,
    /// How request rates are spread over users.
    pub skew: Skew,
    /// Most arrivals, whatever the rate.
    pub max_arrivals: usize,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One planned user: when it arrives and how it plays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrival {
    /// When it arrives, since the side's start.
    pub at: Duration,
    /// Requests after the login.
    pub requests: u32,
    /// Mean pause between two of its requests (jittered ±50 %).
    pub gap: Duration,
    /// Its rate relative to the mean user (1.0 when uniform).
    pub weight: f64,
}

/// Zipf weights of `classes` rate classes, heaviest first, scaled so their
/// mean is 1.
pub fn zipf_weights(classes: usize, exponent: f64) -> Vec<f64> {
    let raw: Vec<f64> = (1..=classes.max(1)).map(|k| 1.0 / (k as f64).powf(exponent)).collect();
    let mean = raw.iter().sum::<f64>() / raw.len() as f64;
    raw.into_iter().map(|w| w / mean).collect()
}

impl OpenLoop {
    /// Users a second arriving at `fraction` of the run.
    pub fn arrival_rate(&self, fraction: f64) -> f64 {
        self.rate.at(fraction) / (1.0 + f64::from(self.requests))
    }

    /// The arrivals of a run of `duration`, from `seed`: a Poisson process
    /// with the schedule's (varying) rate, found by stepping through the run
    /// in 1 ms steps and adding up the expected arrivals until the next
    /// exponential draw is reached. Sorted by time.
    pub fn arrivals(&self, duration: Duration, seed: u64) -> Vec<Arrival> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0A11_1AB5_u64);
        let weights = match self.skew {
            Skew::Uniform => vec![1.0],
            Skew::Zipf => zipf_weights(ZIPF_CLASSES, ZIPF_EXPONENT),
        };
        let step = Duration::from_millis(1);
        let steps = duration.as_millis();
        let mut arrivals = Vec::new();
        let mut expected = 0.0;
        let mut next = exponential(&mut rng);
        for i in 0..steps {
            let fraction = i as f64 / steps as f64;
            expected += self.arrival_rate(fraction) * step.as_secs_f64();
            while expected >= next {
                if arrivals.len() >= self.max_arrivals {
                    return arrivals;
                }
                let weight = weights[rng.random_range(0..weights.len())];
                let requests = ((f64::from(self.requests) * weight).round() as u32).max(1);
                arrivals.push(Arrival {
                    at: step * u32::try_from(i).unwrap_or(u32::MAX),
                    requests,
                    gap: (self.session / requests).max(MIN_GAP),
                    weight,
                });
                next += exponential(&mut rng);
            }
        }
        arrivals
    }
}

/// A unit exponential draw.
fn exponential(rng: &mut StdRng) -> f64 {
    -(1.0 - rng.random::<f64>()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(rate: RateSchedule, skew: Skew) -> OpenLoop {
        OpenLoop { rate, requests: 9, session: Duration::from_secs(2), skew, max_arrivals: MAX_ARRIVALS }
    }

    #[test]
    fn arrivals_follow_the_rate_and_the_seed() {
        // 100 requests a second, 10 per user: 10 users a second for 20 s.
        let load = open(RateSchedule::constant(100.0), Skew::Uniform);
        let a = load.arrivals(Duration::from_secs(20), 7);
        assert_eq!(a, load.arrivals(Duration::from_secs(20), 7), "same seed, same users");
        assert_ne!(a, load.arrivals(Duration::from_secs(20), 8), "another seed, other users");
        assert!((160..=240).contains(&a.len()), "about 200 arrivals, got {}", a.len());
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(a.iter().all(|u| u.requests == 9 && u.at < Duration::from_secs(20)));
        assert!(a.iter().all(|u| u.gap == Duration::from_secs(2) / 9));
        // Poisson: the gaps vary (an even spacing would not).
        let gaps: Vec<u128> = a.windows(2).map(|w| (w[1].at - w[0].at).as_millis()).collect();
        assert!(gaps.iter().min() < Some(&30) && gaps.iter().max() > Some(&200), "{gaps:?}");
    }

    #[test]
    fn a_ramp_brings_more_arrivals_later_and_the_cap_holds() {
        let load = open(RateSchedule::ramp(20.0, 200.0, 1.0), Skew::Uniform);
        let a = load.arrivals(Duration::from_secs(20), 1);
        let early = a.iter().filter(|u| u.at < Duration::from_secs(5)).count();
        let late = a.iter().filter(|u| u.at >= Duration::from_secs(15)).count();
        assert!(late > 3 * early, "early {early}, late {late}");
        let capped = OpenLoop { max_arrivals: 10, ..load };
        assert_eq!(capped.arrivals(Duration::from_secs(20), 1).len(), 10);
    }

    #[test]
    fn schedules_ramp_and_step() {
        let ramp = RateSchedule::ramp(100.0, 300.0, 0.5);
        assert_eq!(ramp.at(0.0), 100.0);
        assert_eq!(ramp.at(0.25), 200.0);
        assert_eq!(ramp.at(0.9), 300.0);
        let steps = RateSchedule::steps(&[(0.0, 10.0), (0.5, 40.0)]);
        assert_eq!(steps.at(0.49), 10.0);
        assert_eq!(steps.at(0.5), 40.0);
        assert_eq!(steps.at(1.0), 40.0);
        assert_eq!(steps.peak(), 40.0);
    }

    #[test]
    fn zipf_weights_fall_with_rank_and_keep_the_mean() {
        let w = zipf_weights(20, 1.0);
        assert_eq!(w.len(), 20);
        assert!(w.windows(2).all(|p| p[0] > p[1]));
        assert!((w.iter().sum::<f64>() / 20.0 - 1.0).abs() < 1e-9);
        assert!((w[0] / w[19] - 20.0).abs() < 1e-9, "class 1 sends 20 times what class 20 does");
        assert_eq!(zipf_weights(1, 1.0), vec![1.0]);
    }

    #[test]
    fn skewed_users_send_as_much_in_total_with_a_few_heavy_ones() {
        let uniform = open(RateSchedule::constant(200.0), Skew::Uniform).arrivals(Duration::from_secs(30), 3);
        let skewed = open(RateSchedule::constant(200.0), Skew::Zipf).arrivals(Duration::from_secs(30), 3);
        let total = |a: &[Arrival]| a.iter().map(|u| u64::from(u.requests)).sum::<u64>() as f64;
        let ratio = total(&skewed) / total(&uniform);
        assert!((0.8..1.25).contains(&ratio), "totals differ by {ratio}");
        let heaviest = skewed.iter().map(|u| u.requests).max().unwrap();
        assert!(heaviest >= 40, "a heavy user sends several times the mean of 9: {heaviest}");
        assert!(skewed.iter().all(|u| u.gap >= MIN_GAP), "nobody sends faster than a person clicks");
        let light = skewed.iter().filter(|u| u.requests <= 9).count();
        assert!(light * 10 > skewed.len() * 7, "most users are light: {light} of {}", skewed.len());
    }
}
