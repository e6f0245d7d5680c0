//! Asking an engine many independent questions at once: as many workers as the engine has handles (a
//! server's connections, the batch server's slots), with one thread alone taking the results in, so the
//! probe runner and the judge share one way of keeping requests in flight and stopping on the first failure.

use crate::engine::{EngineError, Generator};

/// Why [`for_each`] stopped early.
#[derive(Debug)]
pub enum Stopped<E> {
    /// The engine failed on an item (fatal: no worker starts another).
    Engine(EngineError),
    /// Taking a result in failed (a journal that cannot be written).
    Take(E),
}

/// Asks `ask` about every item of `work` and hands each result to `take`, on this thread, in completion
/// order. With several engine handles the items are shared out through a counter; otherwise they are
/// asked one by one on `engine`. After the first failure no new item is started; the results already
/// computed are still taken in.
pub fn for_each<W, R, E>(
    engine: &mut dyn Generator,
    work: &[W],
    ask: impl Fn(&mut dyn Generator, &W) -> Result<R, EngineError> + Sync,
    mut take: impl FnMut(R) -> Result<(), E>,
) -> Result<(), Stopped<E>>
where
    W: Sync,
    R: Send,
{
    let handles: Vec<Box<dyn Generator + Send>> = (0..engine.max_concurrency())
        .map_while(|_| engine.handle())
        .collect();
    if handles.len() <= 1 {
        for w in work {
            let r = ask(engine, w).map_err(Stopped::Engine)?;
            take(r).map_err(Stopped::Take)?;
        }
        return Ok(());
    }
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut failure = None;
    let (tx, rx) = std::sync::mpsc::channel::<Result<R, EngineError>>();
    std::thread::scope(|scope| {
        for mut h in handles {
            let tx = tx.clone();
            let (next, stop, ask) = (&next, &stop, &ask);
            scope.spawn(move || {
                while !stop.load(SeqCst) {
                    let Some(w) = work.get(next.fetch_add(1, SeqCst)) else {
                        break;
                    };
                    let r = ask(h.as_mut(), w);
                    if r.is_err() {
                        stop.store(true, SeqCst);
                    }
                    if tx.send(r).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for r in rx {
            let outcome = match r {
                Ok(r) => take(r).map_err(Stopped::Take),
                Err(e) => Err(Stopped::Engine(e)),
            };
            if let Err(e) = outcome {
                stop.store(true, SeqCst);
                failure.get_or_insert(e);
            }
        }
    });
    failure.map_or(Ok(()), Err)
}
