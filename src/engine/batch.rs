//! The batch server: one thread that owns a native model and decodes several requests at once, so a probe
//! suite reads the weights once per step for up to [`super::EngineInfo::batch`] answers instead of once per
//! answer (decode is bound by memory traffic, not arithmetic).
//!
//! The probe runner already drives engines that serve several requests at once (a remote server): it
//! asks for [`Generator::handle`]s and runs one probe per handle on its own thread. A handle here renders
//! the prompt, sends it to the server thread, and relays the streamed pieces to the probe's callback,
//! sending back whether to go on — so early stopping works exactly as with one sequence at a time.
//!
//! Continuous batching: each step feeds every active sequence its next token (or a chunk of a new
//! prompt) in one forward pass; a finished sequence leaves and a waiting request joins at the next step.
//! The forward pass gives each sequence the same bits whatever else is in the batch ([`super::quant`]),
//! so batching changes timings, never answers (tested).

use super::decode::{Decoding, Next};
use super::frontend::Frontend;
use super::native::{Model, Seq, Step};
use super::{
    EngineError, EngineInfo, Flow, GenParams, Generation, Generator, Prompt, RenderedPrompt,
    Scored, StopReason,
};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

/// Most prompt tokens one sequence feeds in one step (bounds the activations of a step).
const PROMPT_CHUNK: usize = 256;

/// What a handle asks of the server.
pub(super) enum Request {
    Generate {
        ids: Vec<u32>,
        params: GenParams,
        events: Sender<Event>,
        flow: Receiver<Flow>,
    },
    Score {
        prompt: Vec<u32>,
        continuations: Vec<Vec<u32>>,
        reply: Sender<Result<Vec<Vec<f64>>, EngineError>>,
    },
}

/// What the server streams back for one generation.
pub(super) enum Event {
    /// Text to pass to the callback; the server waits for its [`Flow`].
    Piece(String),
    /// The decoder's last bytes after the end: passed on, no answer expected.
    Flush(String),
    Done(Result<Generation, EngineError>),
}

/// Starts the server thread for `model`; it ends when every sender of the returned queue is dropped.
pub(super) fn spawn(model: Arc<Model>, front: Arc<Frontend>, batch: usize) -> Sender<Request> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("modelvet-batch".into())
        .spawn(move || serve(&model, &front, batch.max(1), rx))
        .expect("spawning the batch server thread");
    tx
}

/// A worker's view of the server: a [`Generator`] like any other.
pub struct BatchHandle {
    front: Arc<Frontend>,
    tx: Sender<Request>,
}

impl BatchHandle {
    pub(super) fn new(front: Arc<Frontend>, tx: Sender<Request>) -> Self {
        BatchHandle { front, tx }
    }
}

fn gone() -> EngineError {
    EngineError::Backend("the batch server stopped".into())
}

impl Generator for BatchHandle {
    fn info(&self) -> &EngineInfo {
        &self.front.info
    }

    fn render(&self, prompt: &Prompt) -> Result<RenderedPrompt, EngineError> {
        self.front.render(prompt)
    }

    fn generate(
        &mut self,
        prompt: &Prompt,
        params: &GenParams,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Generation, EngineError> {
        let rendered = self.render(prompt)?;
        self.front.check_prompt(&rendered.ids)?;
        let (events, event_rx) = channel();
        let (flow_tx, flow) = channel();
        self.tx
            .send(Request::Generate {
                ids: rendered.ids,
                params: params.clone(),
                events,
                flow,
            })
            .map_err(|_| gone())?;
        for event in event_rx {
            match event {
                Event::Piece(p) => {
                    let f = on_text(&p);
                    if flow_tx.send(f).is_err() {
                        return Err(gone());
                    }
                }
                Event::Flush(p) => {
                    let _ = on_text(&p);
                }
                Event::Done(r) => return r,
            }
        }
        Err(gone())
    }

    fn score(
        &mut self,
        prompt: &Prompt,
        continuations: &[String],
    ) -> Result<Vec<Scored>, EngineError> {
        let rendered = self.render(prompt)?;
        self.front.check_prompt(&rendered.ids)?;
        let ids: Vec<Vec<u32>> = continuations
            .iter()
            .map(|c| self.front.continuation_ids(&rendered, c))
            .collect::<Result<_, _>>()?;
        let (reply, answer) = channel();
        self.tx
            .send(Request::Score {
                prompt: rendered.ids,
                continuations: ids.clone(),
                reply,
            })
            .map_err(|_| gone())?;
        let logprobs = answer.recv().map_err(|_| gone())??;
        Ok(continuations
            .iter()
            .zip(ids)
            .zip(logprobs)
            .map(|((c, ids), lp)| Scored::new(c, ids, lp))
            .collect())
    }
}

/// The shared prompt head's cache, computed once.
struct Head {
    seq: Seq,
}

/// A sequence's state when its prompt starts with the shared head: a copy of the head's cache, the
/// tokens it covers, and how many of them were served from cache (none when the head was computed for
/// this prompt); otherwise an empty sequence.
fn start(
    model: &Model,
    front: &Frontend,
    head: &mut Option<Head>,
    ids: &[u32],
) -> Result<(Seq, usize, usize), EngineError> {
    let h = &front.head_ids;
    if front.extends_head(ids) {
        let cached = if head.is_some() { h.len() } else { 0 };
        if head.is_none() {
            let mut seq = model.new_seq();
            model.advance(&mut seq, h)?;
            *head = Some(Head { seq });
        }
        if let Some(hd) = head {
            return Ok((hd.seq.clone(), h.len(), cached));
        }
    }
    Ok((model.new_seq(), 0, 0))
}

/// One generation in flight.
struct Active<'t> {
    seq: Seq,
    /// Prompt tokens not fed yet.
    pending: Vec<u32>,
    /// The sampled token to feed next.
    next: Option<u32>,
    dec: Decoding<'t>,
    events: Sender<Event>,
    flow: Receiver<Flow>,
    prompt_tokens: usize,
    cached: usize,
    started: Instant,
    prompt_seconds: f64,
    decode_started: Option<Instant>,
    done: Option<Result<StopReason, EngineError>>,
    /// A piece was sent and its flow is awaited.
    awaiting: bool,
}

impl Active<'_> {
    fn finish(self) {
        let Active {
            mut dec,
            events,
            prompt_tokens,
            cached,
            prompt_seconds,
            decode_started,
            done,
            ..
        } = self;
        let result = match done {
            Some(Ok(stop)) => {
                if let Some(rest) = dec.flush() {
                    let _ = events.send(Event::Flush(rest));
                }
                Ok(Generation {
                    text: std::mem::take(&mut dec.text),
                    ids: std::mem::take(&mut dec.ids),
                    prompt_tokens,
                    cached_tokens: cached,
                    stop,
                    prompt_seconds,
                    decode_seconds: decode_started.map_or(0.0, |t| t.elapsed().as_secs_f64()),
                })
            }
            Some(Err(e)) => Err(e),
            None => Err(gone()),
        };
        let _ = events.send(Event::Done(result));
    }
}

fn serve(model: &Model, front: &Frontend, batch: usize, rx: Receiver<Request>) {
    let context = front.info.context_length;
    let mut head: Option<Head> = None;
    let mut active: Vec<Active> = Vec::new();
    let mut closed = false;
    loop {
        // Admit requests while there is room; block only when nothing is running.
        while active.len() < batch && !closed {
            let req = if active.is_empty() {
                match rx.recv() {
                    Ok(r) => r,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            } else {
                match rx.try_recv() {
                    Ok(r) => r,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            };
            match req {
                Request::Score {
                    prompt,
                    continuations,
                    reply,
                } => {
                    let r = start(model, front, &mut head, &prompt).and_then(|(seq, from, _)| {
                        model.score(&seq, &prompt[from..], &continuations)
                    });
                    let _ = reply.send(r);
                }
                Request::Generate {
                    ids,
                    params,
                    events,
                    flow,
                } => {
                    let started = Instant::now();
                    match start(model, front, &mut head, &ids) {
                        Ok((seq, from, cached)) => active.push(Active {
                            seq,
                            pending: ids[from..].to_vec(),
                            next: None,
                            dec: Decoding::new(front, &params),
                            events,
                            flow,
                            prompt_tokens: ids.len(),
                            cached,
                            started,
                            prompt_seconds: 0.0,
                            decode_started: None,
                            done: None,
                            awaiting: false,
                        }),
                        Err(e) => {
                            let _ = events.send(Event::Done(Err(e)));
                        }
                    }
                }
            }
        }
        if active.is_empty() {
            if closed {
                return;
            }
            continue;
        }

        // One forward pass: a prompt chunk for new sequences, the next token for the others.
        let chunks: Vec<Vec<u32>> = active
            .iter()
            .map(|a| match a.next {
                Some(t) => vec![t],
                None => a.pending[..a.pending.len().min(PROMPT_CHUNK)].to_vec(),
            })
            .collect();
        let mut steps: Vec<Step> = active
            .iter_mut()
            .zip(&chunks)
            .map(|(a, c)| Step {
                seq: &mut a.seq,
                tokens: c,
                all_logits: false,
            })
            .collect();
        let out = match model.forward(&mut steps) {
            Ok(o) => o,
            Err(e) => {
                for mut a in active.drain(..) {
                    a.done = Some(Err(EngineError::Backend(e.to_string())));
                    a.finish();
                }
                continue;
            }
        };

        // Sample, and send every piece before waiting for any answer.
        for ((a, c), mut logits) in active.iter_mut().zip(&chunks).zip(out) {
            if a.next.take().is_none() {
                a.pending.drain(..c.len());
                if !a.pending.is_empty() {
                    continue;
                }
                a.prompt_seconds = a.started.elapsed().as_secs_f64();
                a.decode_started = Some(Instant::now());
            }
            let logits = logits.pop().unwrap_or_default();
            match a.dec.next(&logits) {
                Err(e) => a.done = Some(Err(e)),
                Ok(Next::Stop(reason)) => a.done = Some(Ok(reason)),
                Ok(Next::Token(tok, piece)) => {
                    if a.seq.len() + 1 >= context {
                        a.done = Some(Ok(StopReason::Context));
                    } else {
                        a.next = Some(tok);
                    }
                    if let Some(p) = piece {
                        if a.events.send(Event::Piece(p)).is_ok() {
                            a.awaiting = true;
                        } else {
                            a.done = Some(Err(gone()));
                        }
                    }
                }
            }
        }
        for a in active.iter_mut().filter(|a| a.awaiting) {
            a.awaiting = false;
            match a.flow.recv() {
                Ok(Flow::Continue) => {}
                // The callback is heard before the context check, as in one-at-a-time generation.
                Ok(Flow::Stop) => a.done = Some(Ok(StopReason::Callback)),
                Err(_) => a.done = Some(Err(gone())),
            }
        }
        let (finished, running): (Vec<_>, Vec<_>) =
            active.into_iter().partition(|a| a.done.is_some());
        active = running;
        for a in finished {
            a.finish();
        }
    }
}
