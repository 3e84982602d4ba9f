"""Continuous batching: many sequences decoded together on one llama.cpp context.

A :class:`BatchEngine` owns a llama.cpp context of its own, made from a loaded
model, with ``parallel`` sequence slots.  One scheduler thread drives it; callers
in any thread :meth:`~BatchEngine.submit` a :class:`SequenceJob` and read a
:class:`SequenceStream`.  Each step the scheduler

1. drops the sequences whose stream was closed (their slot and KV cells free at once),
2. gives free slots to waiting jobs (first come, first served),
3. builds one ``llama_batch``: the last sampled token of every decoding sequence,
   then prompt tokens of the sequences still reading their prompt, up to ``n_batch``
   (long prompts are read in chunks across steps, so decoding never stalls),
4. runs ``llama_decode`` once, and
5. samples each sequence's next token with its own llama.cpp sampler chain
   (:mod:`llmkit_llamacpp.sampling`: its own options and seed), turns token bytes
   into text (``Utf8Pieces``), cuts at its own stop strings (``StopScanner``) and
   puts a :class:`~llmkit.types.events.TextDelta` on its stream's queue.  A finished
   sequence ends its stream with a :class:`Finished` and frees its slot for the next job.

**Prompt reuse.**  A slot keeps the tokens and KV cells of its last sequence when it
ends.  A new job goes to the free slot whose kept tokens share the longest prefix with
its prompt, and only the rest of the prompt is read (llama.cpp's server picks slots the
same way); a turn of a conversation reads only what was added since the last one.  When
another slot -- running, or kept -- holds a longer shared prefix (sixteen agents with one
system prompt), its cells are copied into the chosen slot instead of being read again; a
job whose shared prefix is still being read by another sequence waits for it, so a prefix
submitted many times at once is read once.  ``SequenceJob.cache_prompt=False`` reads the
whole prompt into a cleared slot (the engine's counters, :meth:`BatchEngine.counters`,
say how many prompt tokens were read, reused and copied).

The KV cache is not unified: llama.cpp splits the context into ``parallel`` equal
streams (``n_seq_max = parallel``, ``kv_unified = false``), so every sequence has
exactly ``num_ctx`` cells and attends only to its own, and the context is made
``num_ctx * parallel`` cells long.  ``num_ctx`` therefore keeps meaning one
request's context, as on the one-at-a-time path.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from llmkit.backends.base import raise_if_caller_cancelled
from llmkit.errors import BackendBusyError, GenerationError, InvalidRequestError, ModelLoadError
from llmkit.streaming.text import StopScanner, Utf8Pieces
from llmkit.types.events import TextDelta
from llmkit.types.responses import TokenLogprob, TopLogprob
from llmkit_llamacpp.sampling import SamplerChain, SamplerSpec

#: How often a reader waiting for its sequence's next event checks whether its async
#: caller was cancelled (it then raises, and closing the stream frees the slot).
_CANCEL_POLL_SECONDS = 0.1

__all__ = ["BatchEngine", "EngineCounters", "Finished", "SequenceJob", "SequenceStream"]

#: A shared prefix shorter than this is read rather than copied (a copy moves a whole
#: slot's cells) or waited for.
MIN_COPY = 32


@dataclass
class SequenceJob:
    """One request for the engine: a tokenized prompt and how to continue it."""

    prompt: list[int]
    sampler: SamplerSpec
    limit: int
    """At most this many tokens are generated (0: none, the prompt is not even read)."""
    stop: list[str] = field(default_factory=list)
    grammar: Any = None
    """A ``llama_cpp.LlamaGrammar``, or None."""
    cache_prompt: bool = True
    """Reuse the KV cells of a slot (or copy another's) for the prompt's shared prefix;
    False reads every prompt token into a cleared slot (llama.cpp's server's name)."""
    logprobs: int | None = None
    """``None``: none; ``k``: each token's log probability and the likeliest ``k`` others."""


@dataclass
class EngineCounters:
    """What the engine did with the prompts it was given (since it was made)."""

    prompt_tokens: int = 0
    """Prompt tokens of every admitted job."""
    evaluated: int = 0
    """Prompt tokens sent to ``llama_decode``."""
    reused: int = 0
    """Prompt tokens whose cells a slot kept from its previous sequence."""
    copied: int = 0
    """Prompt tokens whose cells were copied from another slot."""


@dataclass(frozen=True)
class Finished:
    """How a sequence ended: the last item on its stream."""

    reason: str
    """``stop`` (end of generation or a stop string) or ``length``."""
    tokens: list[int]
    first_token_ns: int | None
    """``perf_counter_ns`` when its first token was sampled (the prompt was read by then)."""
    ended_ns: int


class _Failed:
    """A scheduler failure handed to one stream's reader."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class SequenceStream:
    """The events of one sequence: ``TextDelta`` items, then one :class:`Finished`.

    Iterating blocks until the scheduler produces the next item.  :meth:`close`
    (also on leaving a ``with`` block, or when a generator reading it is closed)
    cancels the sequence: the scheduler drops it before its next step.
    """

    def __init__(self, engine: BatchEngine, job: _Running) -> None:
        self._engine = engine
        self._job = job

    def __iter__(self) -> Iterator[TextDelta | Finished]:
        events = self._job.events
        while True:
            try:
                item = events.get(timeout=_CANCEL_POLL_SECONDS)
            except queue.Empty:
                # Waiting (for a slot, or a long prompt): stop if an async caller went away.
                raise_if_caller_cancelled()
                continue
            if isinstance(item, _Failed):
                raise item.error
            yield item
            if isinstance(item, Finished):
                return

    def close(self) -> None:
        self._engine._cancel(self._job)

    def __enter__(self) -> SequenceStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Running:
    """A job's state inside the engine, from submission to its end."""

    def __init__(self, job: SequenceJob) -> None:
        self.job = job
        self.events: queue.SimpleQueue[TextDelta | Finished | _Failed] = queue.SimpleQueue()
        self.cancelled = False
        self.done = False
        self.slot = -1
        self.chain: SamplerChain | None = None
        self.read = 0  # prompt tokens already sent to llama_decode
        self.next_token: int | None = None  # sampled, to be decoded next step
        self.position = 0
        self.output_index = -1  # where this sequence's logits are in the current batch
        self.tokens: list[int] = []
        self.first_token_ns: int | None = None
        self.scanner = StopScanner(job.stop)
        self.pieces = Utf8Pieces()
        self.logprobs: list[TokenLogprob] = []  # of tokens whose text is not out yet


class BatchEngine:
    """Decodes up to ``parallel`` sequences at once on ``llm``'s model (a loaded
    ``llama_cpp.Llama``), refilling slots as sequences finish.

    ``llm`` keeps its own context for one-at-a-time use; the engine makes another
    one with the same parameters (threads, KV types, RoPE, batch size), but with
    ``parallel`` sequences of ``llm.n_ctx()`` cells each.  The engine borrows the
    model: :meth:`close` it before the ``Llama`` is closed.
    """

    def __init__(self, llm: Any, *, parallel: int, max_queue: int = 512) -> None:
        import llama_cpp

        if parallel < 1 or parallel > llama_cpp.llama_max_parallel_sequences():
            raise ModelLoadError(
                f"parallel={parallel}: llama.cpp takes 1 to "
                f"{llama_cpp.llama_max_parallel_sequences()} sequences"
            )
        self.parallel = parallel
        self.max_queue = max_queue
        """Jobs that may wait for a slot; one more is refused with ``BackendBusyError``."""
        self.n_ctx_seq = int(llm.n_ctx())
        self._llm = llm
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx = self.n_ctx_seq * parallel
        params.n_seq_max = parallel
        params.kv_unified = False
        params.embeddings = False
        params.n_batch = max(int(params.n_batch), parallel)
        params.n_ubatch = max(int(params.n_ubatch), min(parallel, int(params.n_batch)))
        self.n_batch = int(params.n_batch)
        self._ctx: Any = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self._ctx:
            raise ModelLoadError(
                f"llama.cpp could not make a context of {params.n_ctx} cells for {parallel} "
                "sequences"
            )
        cells = int(llama_cpp.llama_n_ctx_seq(self._ctx))
        if cells < self.n_ctx_seq:
            llama_cpp.llama_free(self._ctx)
            raise ModelLoadError(
                f"llama.cpp gave each of {parallel} sequences {cells} cells, "
                f"fewer than num_ctx={self.n_ctx_seq}"
            )
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._vocab = llm._model.vocab
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self._decode = llama_cpp.llama_decode
        self._slots: list[_Running | None] = [None] * parallel
        self._cached: list[list[int]] = [[] for _ in range(parallel)]
        """The tokens whose cells each slot holds, from position 0."""
        self._last_used = [0] * parallel
        self._uses = 0
        self._counters = EngineCounters()
        self._waiting: deque[_Running] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="llmkit-batch-engine", daemon=True)
        self._thread.start()

    # -- callers' side --------------------------------------------------------

    def submit(self, job: SequenceJob) -> SequenceStream:
        """Queue a sequence; it starts as soon as a slot is free."""
        if not job.prompt:
            raise InvalidRequestError("the prompt is empty: nothing to continue", fields=["prompt"])
        if len(job.prompt) + max(job.limit - 1, 0) > self.n_ctx_seq:
            raise GenerationError(
                f"{len(job.prompt)} prompt tokens and {job.limit} more do not fit "
                f"num_ctx={self.n_ctx_seq}"
            )
        running = _Running(job)
        if job.limit <= 0:
            running.events.put(Finished("length", [], None, time.perf_counter_ns()))
            running.done = True
            return SequenceStream(self, running)
        with self._wake:
            if self._closing:
                raise GenerationError("the batch engine is closed")
            if len(self._waiting) >= self.max_queue and None not in self._slots:
                raise BackendBusyError(
                    f"all {self.parallel} slots are busy and {len(self._waiting)} requests "
                    f"wait (max_queue={self.max_queue}); try again later",
                    retry_after=1.0,
                )
            self._waiting.append(running)
            self._wake.notify()
        return SequenceStream(self, running)

    def busy_slots(self) -> int:
        """How many slots hold a sequence now."""
        with self._wake:
            return sum(slot is not None for slot in self._slots)

    def waiting(self) -> int:
        """How many submitted sequences wait for a slot."""
        with self._wake:
            return len(self._waiting)

    def counters(self) -> EngineCounters:
        """A copy of the prompt counters."""
        with self._wake:
            return EngineCounters(**vars(self._counters))

    def cached_tokens(self, slot: int) -> list[int]:
        """The tokens whose KV cells ``slot`` holds (for tests and diagnostics)."""
        with self._wake:
            return list(self._cached[slot])

    def _cancel(self, running: _Running) -> None:
        with self._wake:
            running.cancelled = True
            self._wake.notify()

    def close(self) -> None:
        """Stop taking jobs, let the running and waiting ones finish, and free the context."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()

    # -- the scheduler thread -------------------------------------------------

    def _loop(self) -> None:
        import llama_cpp

        try:
            while self._step():
                pass
        except BaseException as exc:  # the scheduler itself broke: no reader may wait forever
            error = GenerationError(f"the batch engine stopped: {exc}")
            error.__cause__ = exc
            with self._wake:
                self._closing = True
                stranded = [job for job in self._slots if job is not None] + list(self._waiting)
                self._waiting.clear()
            for job in stranded:
                job.events.put(_Failed(error))
            raise
        finally:
            for slot, running in enumerate(self._slots):
                if running is not None:
                    self._release(slot)
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)

    def _step(self) -> bool:
        """One scheduling step; False once closing and nothing is left to do."""
        with self._wake:
            for slot, running in enumerate(self._slots):
                if running is not None and running.cancelled:
                    self._release(slot)
            self._admit_waiting()
            if all(slot is None for slot in self._slots):
                if self._closing:
                    return False
                self._wake.wait()
                return True
        active = [running for running in self._slots if running is not None]
        try:
            self._fill_batch(active)
            code = self._decode(self._ctx, self._batch)
            if code != 0:
                raise GenerationError(f"llama_decode failed with status {code}")
            for running in active:
                if running.output_index >= 0:
                    self._advance(running)
        except Exception as exc:  # every sequence in the batch learns why
            error = exc if isinstance(exc, GenerationError) else GenerationError(str(exc))
            if error is not exc:
                error.__cause__ = exc
            with self._wake:
                for running in active:
                    running.events.put(_Failed(error))
                    running.done = True
                    self._release(running.slot, keep_cells=False)
        return True

    def _admit_waiting(self) -> None:
        """Give free slots to waiting jobs, first come first served, except that a job
        whose shared prefix another sequence is still reading waits for it."""
        held: list[_Running] = []
        while self._waiting and None in self._slots:
            running = self._waiting.popleft()
            if running.cancelled:
                continue
            if running.job.cache_prompt and self._prefix_being_read(running.job.prompt):
                held.append(running)
                continue
            self._admit(running)
            if running.done:  # its sampler chain could not be built
                self._release(running.slot)
        self._waiting.extendleft(reversed(held))

    def _prefix_being_read(self, prompt: list[int]) -> bool:
        best_kept = max(_common_prefix(kept, prompt) for kept in self._cached)
        for running in self._slots:
            if running is None or running.read >= len(running.job.prompt):
                continue
            shared = min(_common_prefix(running.job.prompt, prompt), len(prompt) - 1)
            if shared >= MIN_COPY and shared > best_kept + MIN_COPY:
                return True
        return False

    def _choose_slot(self, prompt: list[int], cache: bool) -> tuple[int, int, int, int]:
        """``(slot, kept, source, copied)``: the free slot to use and how many of its cells
        to keep, or another slot to copy ``copied`` cells from (``source`` -1: none)."""
        free = [slot for slot, running in enumerate(self._slots) if running is None]
        limit = len(prompt) - 1  # the last prompt token is always read: its logits are needed
        if not cache:
            empty = [slot for slot in free if not self._cached[slot]]
            slot = empty[0] if empty else min(free, key=lambda s: self._last_used[s])
            return slot, 0, -1, 0
        shared = {slot: min(_common_prefix(self._cached[slot], prompt), limit) for slot in free}
        slot = max(free, key=lambda s: (shared[s], not self._cached[s], -self._last_used[s]))
        if shared[slot] < MIN_COPY:
            # Little to reuse (a chat template's opening): an empty slot, else the one used
            # longest ago, so that a slot holding a long prefix keeps it for its owner.
            slot = max(free, key=lambda s: (not self._cached[s], -self._last_used[s]))
        kept = shared[slot]
        source, copied = -1, 0
        for other, cells in enumerate(self._cached):
            if other == slot:
                continue
            common = min(_common_prefix(cells, prompt), limit)
            if common >= MIN_COPY and common > max(kept, copied) + MIN_COPY:
                source, copied = other, common
        return slot, kept, source, copied

    def _admit(self, running: _Running) -> None:
        import llama_cpp

        job = running.job
        slot, kept, source, copied = self._choose_slot(job.prompt, job.cache_prompt)
        if source >= 0:
            # Another stream's cells: llama.cpp copies a whole stream, then the tail goes.
            llama_cpp.llama_memory_seq_cp(self._memory, source, slot, -1, -1)
            self._cached[slot] = list(self._cached[source])
            kept = copied
        if not llama_cpp.llama_memory_seq_rm(self._memory, slot, kept, -1):
            llama_cpp.llama_memory_seq_rm(self._memory, slot, -1, -1)
            kept = 0
        del self._cached[slot][kept:]
        counters = self._counters
        counters.prompt_tokens += len(job.prompt)
        if source >= 0:
            counters.copied += kept
        else:
            counters.reused += kept
        running.read = running.position = kept
        self._uses += 1
        self._last_used[slot] = self._uses
        running.slot = slot
        self._slots[slot] = running
        try:
            running.chain = SamplerChain(
                running.job.sampler,
                vocab=self._vocab,
                n_vocab=self._n_vocab,
                grammar=running.job.grammar,
            )
        except Exception as exc:  # handed to the one reader it concerns
            error = GenerationError(f"llama.cpp could not build the sampler chain: {exc}")
            error.__cause__ = exc
            running.events.put(_Failed(error))
            running.done = True

    def _release(self, slot: int, *, keep_cells: bool = True) -> None:
        """Free ``slot`` for the next job; its cells stay for reuse unless ``keep_cells``
        is False (a failed decode leaves them unknown)."""
        import llama_cpp

        running = self._slots[slot]
        if running is None:
            return
        self._slots[slot] = None
        if running.chain is not None:
            running.chain.close()
            running.chain = None
        if not keep_cells:
            llama_cpp.llama_memory_seq_rm(self._memory, slot, -1, -1)
            self._cached[slot] = []

    def _fill_batch(self, active: list[_Running]) -> None:
        batch = self._batch
        n = 0
        for running in active:  # decoding sequences first: one token each
            running.output_index = -1
            if running.next_token is not None:
                self._put(n, running.next_token, running.position, running.slot, True)
                self._cached[running.slot].append(running.next_token)
                running.output_index = n
                running.position += 1
                n += 1
        for running in active:  # then prompts, in chunks, as room allows
            prompt = running.job.prompt
            if running.read >= len(prompt) or n >= self.n_batch:
                continue
            take = min(len(prompt) - running.read, self.n_batch - n)
            for token in prompt[running.read : running.read + take]:
                self._put(n, token, running.position, running.slot, False)
                running.position += 1
                n += 1
            self._cached[running.slot].extend(prompt[running.read : running.read + take])
            self._counters.evaluated += take
            running.read += take
            if running.read == len(prompt):
                batch.logits[n - 1] = 1
                running.output_index = n - 1
        batch.n_tokens = n

    def _put(self, index: int, token: int, position: int, seq: int, logits: bool) -> None:
        batch = self._batch
        batch.token[index] = token
        batch.pos[index] = position
        batch.n_seq_id[index] = 1
        batch.seq_id[index][0] = seq
        batch.logits[index] = logits

    def _advance(self, running: _Running) -> None:
        """Sample this sequence's next token and stream its text, or end it."""
        assert running.chain is not None
        token = running.chain.sample(self._ctx, running.output_index)
        running.next_token = None
        if running.first_token_ns is None:
            running.first_token_ns = time.perf_counter_ns()
        if self._is_eog(self._vocab, token):
            self._finish(running, "stop")
            return
        running.tokens.append(token)
        data = self._llm.detokenize([token])
        if running.job.logprobs is not None:
            running.logprobs.append(self._logprob(running, token, data))
        piece = running.pieces.feed(data)
        text, stopped = running.scanner.feed(piece)
        if text:
            running.events.put(self._delta(running, text))
        if stopped:
            self._finish(running, "stop")
        elif len(running.tokens) >= running.job.limit:
            self._finish(running, "length")
        else:
            running.next_token = token

    def _delta(self, running: _Running, text: str) -> TextDelta:
        """The text, with the log probabilities of the tokens it came from (when asked)."""
        if running.job.logprobs is None:
            return TextDelta(text=text)
        taken, running.logprobs = running.logprobs, []
        return TextDelta(text=text, logprobs=taken)

    def _logprob(self, running: _Running, token: int, data: bytes) -> TokenLogprob:
        """``token``'s log probability under the model's logits at this position (before any
        sampler changed them), and the likeliest ``job.logprobs`` tokens there."""
        import llama_cpp
        import numpy as np

        row = llama_cpp.llama_get_logits_ith(self._ctx, running.output_index)
        logits = np.ctypeslib.as_array(row, shape=(self._n_vocab,)).astype(np.float64)
        top = logits.max()
        norm = top + float(np.log(np.exp(logits - top).sum()))
        k = running.job.logprobs or 0
        alternatives = None
        if k:
            best = np.argpartition(-logits, k - 1)[:k]
            best = best[np.argsort(-logits[best], kind="stable")]
            alternatives = []
            for other in best.tolist():
                other_data = bytes(self._llm.detokenize([other]))
                alternatives.append(
                    TopLogprob(
                        token=_token_text(other_data),
                        logprob=float(logits[other] - norm),
                        bytes=list(other_data),
                    )
                )
        return TokenLogprob(
            token=_token_text(data),
            logprob=float(logits[token] - norm),
            bytes=list(data),
            top_logprobs=alternatives,
        )

    def _finish(self, running: _Running, reason: str) -> None:
        scanner = running.scanner
        if not scanner.stopped:
            tail, _ = scanner.feed(running.pieces.flush())
            tail += scanner.flush() if not scanner.stopped else ""
            if tail:
                running.events.put(self._delta(running, tail))
        running.events.put(
            Finished(reason, running.tokens, running.first_token_ns, time.perf_counter_ns())
        )
        running.done = True
        with self._wake:
            self._release(running.slot)


def _token_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low] holds, a[:high] == b[:high] does not
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low
