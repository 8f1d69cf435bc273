//! A persistent pool for the forward pass: the caller and `threads - 1` workers take
//! chunks of a job's tasks from a shared counter. Workers spin briefly between jobs (a
//! decode step issues a few hundred of them, microseconds apart) and then sleep. Nobody
//! waits for a worker that has not started: when the machine is busy and a worker is not
//! scheduled, the caller simply does all the chunks itself.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps.
const SPIN: Duration = Duration::from_millis(2);

/// Chunks per thread: small enough to balance, large enough to amortise the counter.
const CHUNKS_PER_THREAD: usize = 4;

type Job = dyn Fn(Range<usize>) + Sync;

struct Shared {
    /// Bumped once per job.
    epoch: AtomicU64,
    /// The last epoch whose chunks are all taken; late workers skip it.
    closed: AtomicU64,
    /// Workers inside the current job; the caller waits for zero before returning.
    active: AtomicUsize,
    /// The current job, lifetime-erased: only used by workers counted in `active` while
    /// the job is open, and the caller keeps it alive until `active` is back to zero.
    job: Mutex<Option<&'static Job>>,
    tasks: AtomicUsize,
    chunk: AtomicUsize,
    next: AtomicUsize,
    panicked: AtomicBool,
    sleepers: AtomicUsize,
    wake: (Mutex<()>, Condvar),
    stop: AtomicBool,
}

impl Shared {
    /// Runs chunks until none are left.
    fn work(&self, job: &(dyn Fn(Range<usize>) + Sync + '_)) {
        let (tasks, chunk) = (self.tasks.load(SeqCst), self.chunk.load(SeqCst));
        loop {
            let start = self.next.fetch_add(chunk, SeqCst);
            if start >= tasks {
                return;
            }
            job(start..(start + chunk).min(tasks));
        }
    }
}

pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            job: Mutex::new(None),
            tasks: AtomicUsize::new(0),
            chunk: AtomicUsize::new(1),
            next: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            wake: (Mutex::new(()), Condvar::new()),
            stop: AtomicBool::new(false),
        });
        let threads = threads.max(1);
        let mut workers = Vec::with_capacity(threads - 1);
        for index in 1..threads {
            let shared = shared.clone();
            workers.push(
                std::thread::Builder::new()
                    .name(format!("woolly-cpu-{index}"))
                    .spawn(move || worker(&shared))?,
            );
        }
        Ok(Self { shared, workers })
    }

    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `job` over chunks of `0..tasks` on the caller and the workers, and returns
    /// when every chunk is done.
    pub fn run(&self, tasks: usize, job: &(dyn Fn(Range<usize>) + Sync)) {
        let threads = self.threads();
        if threads == 1 || tasks <= 1 {
            return job(0..tasks);
        }
        let s = &*self.shared;
        // SAFETY: workers only use the reference while counted in `active`, and this
        // function does not return (or unwind) before `active` is zero with the job closed.
        let erased: &'static Job = unsafe {
            std::mem::transmute::<&(dyn Fn(Range<usize>) + Sync + '_), &'static Job>(job)
        };
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(erased);
        s.tasks.store(tasks, SeqCst);
        s.chunk
            .store(tasks.div_ceil(threads * CHUNKS_PER_THREAD).max(1), SeqCst);
        s.next.store(0, SeqCst);
        s.panicked.store(false, SeqCst);
        let epoch = s.epoch.fetch_add(1, SeqCst) + 1;
        if s.sleepers.load(SeqCst) > 0 {
            let _guard = s.wake.0.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.1.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| s.work(job)));
        s.closed.store(epoch, SeqCst);
        let mut spins = 0u32;
        while s.active.load(SeqCst) > 0 {
            spins += 1;
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Err(payload) = mine {
            std::panic::resume_unwind(payload);
        }
        if s.panicked.swap(false, SeqCst) {
            panic!("a CPU worker thread panicked");
        }
    }
}

fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        // Wait for a new epoch: spin first, then sleep.
        let start = Instant::now();
        let mut spins = 0u32;
        while s.epoch.load(SeqCst) == seen {
            if s.stop.load(SeqCst) {
                return;
            }
            spins += 1;
            if !spins.is_multiple_of(256) || start.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            s.sleepers.fetch_add(1, SeqCst);
            let mut guard = s.wake.0.lock().unwrap_or_else(|e| e.into_inner());
            while s.epoch.load(SeqCst) == seen && !s.stop.load(SeqCst) {
                guard = s.wake.1.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
            drop(guard);
            s.sleepers.fetch_sub(1, SeqCst);
        }
        seen = s.epoch.load(SeqCst);
        s.active.fetch_add(1, SeqCst);
        // Once counted in `active`, a job that is not closed yet stays alive until we leave.
        if s.closed.load(SeqCst) < seen {
            let job = *s.job.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(job) = job {
                if catch_unwind(AssertUnwindSafe(|| s.work(job))).is_err() {
                    s.panicked.store(true, SeqCst);
                }
            }
        }
        s.active.fetch_sub(1, SeqCst);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.stop.store(true, SeqCst);
        {
            let _guard = s.wake.0.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.1.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A buffer that pool tasks write in disjoint parts.
pub struct SharedMut<'a, T> {
    ptr: *mut T,
    len: usize,
    _buf: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: tasks only reach the buffer through `slice`, whose callers promise disjoint
// ranges; `Pool::run` returns only after every task is done with it.
unsafe impl<T: Send> Sync for SharedMut<'_, T> {}

impl<'a, T> SharedMut<'a, T> {
    pub fn new(buf: &'a mut [T]) -> Self {
        Self {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            _buf: std::marker::PhantomData,
        }
    }

    /// # Safety
    /// No other thread may use `range` while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, range: Range<usize>) -> &mut [T] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds; exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task runs exactly once, whatever the thread count and timing.
    fn check(pool: &Pool, tasks: usize) {
        let hits: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
        pool.run(tasks, &|range| {
            for t in range {
                hits[t].fetch_add(1, SeqCst);
            }
        });
        assert!(hits.iter().all(|h| h.load(SeqCst) == 1));
    }

    #[test]
    fn every_task_runs_once() {
        for threads in [1, 2, 3] {
            let pool = Pool::new(threads).unwrap();
            for i in 0..500 {
                check(&pool, i % 37);
            }
            // After the workers have gone to sleep, a job still completes.
            std::thread::sleep(SPIN * 3);
            check(&pool, 100);
        }
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let pool = Pool::new(2).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| pool.run(64, &|_| panic!("boom"))));
        assert!(r.is_err());
        check(&pool, 64);
    }
}
