//! A sleep with microsecond precision for the schedule. tokio's timer wheel rounds every sleep up
//! to the next millisecond: at 2,000 req/s that is about half a millisecond of client lag added
//! to each latency measured from the scheduled time, several times the round trip it measures.
//! A Linux timerfd fires on time (high-resolution timer, no slack) and wakes the runtime through
//! its own epoll, so the slot that waited sends the request itself, with no handoff to another
//! thread.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;
use tokio::io::unix::AsyncFd;

/// Below this, `sleep_until` yields to the runtime instead of arming the timer.
const SPIN_BELOW: std::time::Duration = std::time::Duration::from_micros(20);

#[derive(Debug)]
pub(crate) enum Timer {
    Precise(AsyncFd<OwnedFd>),
    /// When a timerfd cannot be had (a sandbox forbids it): correct, only less precise.
    Coarse,
}

impl Timer {
    /// Must be called inside the runtime.
    pub(crate) fn new() -> Timer {
        // SAFETY: timerfd_create takes two integer flags and returns a new descriptor or -1.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Timer::Coarse;
        }
        // SAFETY: `fd` is a descriptor we just created and own exclusively.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd is open, owned by the AsyncFd from here on, and always returns the
        // same descriptor.
        match unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) } {
            Ok(fd) => Timer::Precise(fd),
            Err(_) => Timer::Coarse,
        }
    }

    pub(crate) async fn sleep_until(&self, at: Instant) {
        let Timer::Precise(fd) = self else {
            tokio::time::sleep_until(at.into()).await;
            return;
        };
        let mut left = at.saturating_duration_since(Instant::now());
        // A wait shorter than a thread's wake-up is not worth a timer: arming it and being woken
        // cost more than the wait (at saturation `timerfd_settime` was 3.4% of the client's
        // samples), and it would end late anyway. Let the runtime run what is ready (other
        // slots' answers), then look again.
        while !left.is_zero() && left < SPIN_BELOW {
            tokio::task::yield_now().await;
            left = at.saturating_duration_since(Instant::now());
        }
        if left.is_zero() {
            return;
        }
        if arm(fd.as_raw_fd(), left).is_err() {
            tokio::time::sleep_until(at.into()).await;
            return;
        }
        loop {
            let Ok(mut ready) = fd.readable().await else {
                tokio::time::sleep_until(at.into()).await;
                return;
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into an 8-byte buffer we own.
            let n = unsafe {
                libc::read(
                    fd.as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            // Drained either way: a one-shot timerfd is not readable again until it is re-armed,
            // and clearing now saves a read that would fail at the next sleep.
            ready.clear_ready();
            if n == 8 {
                return;
            }
        }
    }
}

/// One-shot, relative to now.
fn arm(fd: i32, after: std::time::Duration) -> io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: after.as_secs() as libc::time_t,
            tv_nsec: after.subsec_nanos() as libc::c_long,
        },
    };
    // SAFETY: `spec` is a valid itimerspec on our stack; the old value is not requested.
    let rc = unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_on_time_and_not_early() {
        let timer = Timer::new();
        assert!(matches!(timer, Timer::Precise(_)));
        for micros in [300u64, 1500, 0] {
            let at = Instant::now() + Duration::from_micros(micros);
            timer.sleep_until(at).await;
            assert!(Instant::now() >= at);
        }
        // A deadline in the past returns at once.
        let past = Instant::now();
        timer.sleep_until(past).await;
    }
}
