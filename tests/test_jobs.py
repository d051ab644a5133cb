"""Background jobs: thread, snapshot, stop, failures (UI-free)."""

import threading
import time

import numpy as np
import torch

import arnn_core as ac
from arnn_core import jobs


def fake_train(net, system, betas, steps_per_beta, *, on_step, stop, step_sleep=0.01, **kw):
    """Mimics train_variational's contract: records per step, stop honoured before every step."""
    history, step = [], 0
    for b in betas:
        for k in range(steps_per_beta):
            if stop.is_set():
                rec = dict(history[-1] if history else {"beta": b}, status="stopped", message="stopped by request")
                on_step(rec)
                history.append(rec)
                return history
            time.sleep(step_sleep)
            step += 1
            rec = {"step": step, "beta": b, "free_energy": -1.0 - 0.01 * step, "status": "running"}
            on_step(rec)
            history.append(rec)
    history[-1]["status"] = "finished"
    return history


def test_job_runs_in_a_thread_and_snapshot_is_consistent():
    job = jobs.variational_job(None, None, [0.1, 0.2], 20, batch_size=8, train_fn=fake_train)
    assert job.snapshot().state == "created"
    job.start()
    assert job.alive
    time.sleep(0.1)
    snap = job.snapshot()
    assert snap.running and 0 < len(snap.records) < 40
    assert 0.0 <= snap.progress < 1.0
    assert job.join(10)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.done and len(snap.records) == 40
    assert snap.progress == 1.0
    assert snap.result["history"][-1]["status"] == "finished"
    # the snapshot is a copy: later appends do not change it
    job._append({"step": 99})
    assert len(snap.records) == 40


def test_stop_takes_effect_within_a_step():
    job = jobs.variational_job(None, None, [0.1], 10_000, batch_size=8, train_fn=fake_train).start()
    time.sleep(0.1)
    t0 = time.monotonic()
    job.stop()
    assert job.snapshot().state in ("stopping", "stopped")
    assert job.join(2)
    assert time.monotonic() - t0 < 1.0
    snap = job.snapshot()
    assert snap.state == "stopped" and "stopped" in snap.message.lower()
    n = len(snap.records)
    time.sleep(0.1)
    assert len(job.snapshot().records) == n


def test_failure_becomes_a_message_not_a_crash():
    def boom(*a, **k):
        raise ValueError("batch_size must be ≥ 2, got 1")
    job = jobs.variational_job(None, None, [0.1], 1, batch_size=1, train_fn=boom).start()
    assert job.join(5)
    snap = job.snapshot()
    assert snap.state == "failed"
    assert snap.message == "batch_size must be ≥ 2, got 1"
    assert "Traceback" in job.traceback


def test_cuda_oom_gives_advice():
    oom = getattr(torch.cuda, "OutOfMemoryError", RuntimeError)

    def boom(*a, **k):
        raise oom("CUDA out of memory. Tried to allocate 20.00 GiB")
    job = jobs.variational_job(None, None, [0.1], 1, batch_size=2, train_fn=boom, device="cuda:0").start()
    job.join(5)
    snap = job.snapshot()
    assert snap.state == "failed"
    assert "Out of memory on cuda:0" in snap.message and "batch size" in snap.message


def test_diverged_run_is_reported():
    def diverging(net, system, betas, steps, *, on_step, stop, **kw):
        on_step({"step": 1, "beta": 0.1, "free_energy": -1.0, "status": "running"})
        rec = {"step": 1, "beta": 0.1, "free_energy": -1.0, "status": "diverged",
               "message": "non-finite loss at step 2; parameters restored to the last finite state"}
        on_step(rec)
        return [rec]
    job = jobs.variational_job(None, None, [0.1], 5, batch_size=2, train_fn=diverging).start()
    job.join(5)
    snap = job.snapshot()
    assert snap.state == "diverged"
    assert "restored" in snap.message


def test_real_variational_job_on_a_small_system():
    system = ac.sherrington_kirkpatrick(8, seed=1)
    net = ac.make_arnn("sl", system)
    job = jobs.variational_job(net, system, [0.2, 0.4], 5, batch_size=32, seed=0, final_samples=200,
                               exact_kl=True).start()
    assert job.join(120), "job did not finish"
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    assert len(snap.records) == 10
    assert snap.records[-1]["free_energy_exact"] is not None
    est = snap.result["estimate"]
    assert np.isfinite(est["free_energy"]) and 0 < est["ess"] <= 1
    assert snap.result["exact_kl"] >= -1e-6


def test_likelihood_job_draws_samples_in_the_worker():
    system = ac.sherrington_kirkpatrick(6, seed=2)
    net = ac.make_arnn("sl", system)
    called = {}

    def make_samples():
        called["thread"] = threading.current_thread().name
        rng = np.random.default_rng(0)
        return rng.choice([-1.0, 1.0], size=(200, 6))
    job = jobs.likelihood_job(net, epochs=2, batch_size=50, make_samples=make_samples).start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.state == "finished", snap.message
    assert called["thread"].startswith("arnn-job")
    assert snap.records[-1]["epoch"] == 2 and snap.progress == 1.0
    assert snap.result["samples"].shape == (200, 6)


def test_likelihood_job_refuses_wrong_shape():
    system = ac.sherrington_kirkpatrick(6, seed=2)
    net = ac.make_arnn("sl", system)
    job = jobs.likelihood_job(net, epochs=1, batch_size=10, samples=np.ones((20, 5))).start()
    job.join(10)
    snap = job.snapshot()
    assert snap.state == "failed" and "(M, 6)" in snap.message


def test_compare_job_runs_each_architecture_and_survives_a_failure():
    system = ac.sherrington_kirkpatrick(8, seed=3)

    def broken():
        raise ValueError("does not fit")
    entries = [("SL", lambda: ac.make_arnn("sl", system)), ("broken", broken),
               ("1P", lambda: ac.make_arnn("1p", system))]
    job = jobs.compare_job(system, entries, [0.2, 0.4], 3, batch_size=16, seed=0).start()
    assert job.join(120)
    snap = job.snapshot()
    assert snap.state == "finished"
    assert set(snap.result) == {"SL", "broken", "1P"}
    assert snap.result["broken"]["error"] == "does not fit"
    for label in ("SL", "1P"):
        entry = snap.result[label]
        assert entry["error"] is None and [r["beta"] for r in entry["per_beta"]] == [0.2, 0.4]
        assert entry["per_beta"][-1]["relative_error"] is not None
    assert {r["arch"] for r in snap.records} == {"SL", "1P"}


def test_memory_check_refuses_the_hopeless():
    system = ac.sherrington_kirkpatrick(30, seed=0)
    spec = ac.get_architecture("sk_krsb")
    small = jobs.estimate_memory_bytes(spec, system, spec.defaults(), 100)
    big = jobs.estimate_memory_bytes(spec, system, spec.defaults(), 10_000_000)
    assert 0 < small < big
    assert jobs.check_fits_device(spec, system, spec.defaults(), 100, "cpu") is None
    reason = jobs.check_fits_device(spec, system, spec.defaults(), 10**9, "cpu")
    assert reason is not None and "GiB" in reason


def test_friendly_error_is_one_line():
    msg = jobs.friendly_error(RuntimeError("first line\nsecond line"))
    assert "\n" not in msg and "first line" in msg


def test_replay_job_shows_a_saved_history():
    history = [{"step": k, "beta": 0.5, "free_energy": -1.0, "status": "running"} for k in range(1, 6)]
    history[-1]["status"] = "finished"
    job = jobs.replay_job(history).start()
    assert job.join(5)
    snap = job.snapshot()
    assert snap.state == "finished" and [r["step"] for r in snap.records] == [1, 2, 3, 4, 5]
    assert snap.result["history"] == history
