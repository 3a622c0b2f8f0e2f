"""Results and verdicts of ablation experiments (re-exported by ``alexnet.experiments``).

The verdict compares the two variants with the best mean *final-epoch* test accuracy
(the best epoch is picked on the test set itself, so it flatters every variant and is
shown but never tested):

* several seeds per variant: Welch's t interval for the difference of the mean
  accuracies; a winner only when the 95 % interval excludes zero;
* one seed per variant: both networks were scored on the same test images, so they are
  compared image by image (McNemar's exact test, Newcombe's interval for the paired
  difference).  Seed-to-seed variation is not measured, and the text says so: a
  "single-run winner" is a claim about two trained networks, not about the settings.
  Runs without a per-image record (older ones) get an unpaired two-proportion test,
  labelled as such;
* while any run is still queued or training: provisional figures only, no verdict.

Epochs and seconds to a target accuracy, the train − test gap and images/s are
descriptive: shown, labelled so, never tested.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from . import stats

LEVEL = 0.95  # confidence level of every interval shown
ALPHA = 0.05  # single-run tests: p below this names a single-run winner
FINISHED = ("completed", "failed", "stopped", "interrupted")


@dataclass
class VariantResult:
    label: str
    runs: list[dict] = field(default_factory=list)  # per run: status, final_acc, best_acc, epochs_to_target, ...
    params: int = 0
    macs: int = 0
    n_test: int = 0  # test images each run was scored on (0 = unknown)

    def _vals(self, key):
        return [r[key] for r in self.runs if r.get(key) is not None]

    @property
    def finals(self) -> list[float]:
        """Final-epoch test accuracy of each completed run (one per finished seed)."""
        return self._vals("final_acc")

    @property
    def seeds(self) -> int:
        return len(self.finals)

    @property
    def final_acc(self) -> float | None:
        v = self.finals
        return statistics.fmean(v) if v else None

    @property
    def sd(self) -> float | None:
        """Sample standard deviation of the final accuracy over seeds (None below two seeds)."""
        v = self.finals
        return statistics.stdev(v) if len(v) >= 2 else None

    @property
    def best_acc(self) -> float | None:
        v = [r["best_acc"] for r in self.runs if r.get("final_acc") is not None and r.get("best_acc") is not None]
        return statistics.fmean(v) if v else None

    @property
    def latest_acc(self) -> float | None:
        """Mean of the latest test accuracy of every run that has one (provisional while training)."""
        v = self._vals("last_acc")
        return statistics.fmean(v) if v else None

    @property
    def records(self) -> list[list[bool] | None]:
        """Per completed run: which test images its final evaluation got right (None if not recorded)."""
        return [r.get("correct") for r in self.runs if r.get("final_acc") is not None]

    def reached(self, key: str = "epochs_to_target") -> list[float]:
        """Epochs (or seconds) to the target of the completed runs that reached it."""
        return [r[key] for r in self.runs if r.get("final_acc") is not None and r.get(key) is not None]

    @property
    def images_per_sec(self) -> float | None:
        v = self._vals("images_per_sec")
        return statistics.fmean(v) if v else None

    @property
    def done(self) -> bool:
        return bool(self.runs) and all(r["status"] in FINISHED for r in self.runs)


# ---------------------------------------------------------------------------------------
# reading the runs
# ---------------------------------------------------------------------------------------
def run_result(store, run_id: str, target_acc: float | None) -> dict:
    run = store.get_run(run_id) or {"status": "deleted"}
    ep = store.epoch_metrics(run_id) if run.get("status") != "deleted" else []
    # time = training seconds up to that epoch (sum of epoch_seconds): start-up costs such as
    # loading data or the first optimizer's imports are not charged to the variant
    elapsed, accs = 0.0, []
    for e in ep:
        elapsed += e.get("epoch_seconds") or 0.0
        if e.get("test_acc") is not None:
            accs.append((e["epoch"], e["test_acc"], elapsed))
    completed = bool(accs) and run.get("status") == "completed"
    out = {"run_id": run_id, "status": run.get("status"), "epochs": len(accs),
           "final_acc": accs[-1][1] if completed else None,
           "best_acc": max(a for _, a, _ in accs) if accs else None,
           "train_acc": ep[-1].get("train_acc") if ep else None,
           "last_acc": accs[-1][1] if accs else None, "acc_curve": [(e, a) for e, a, _ in accs]}
    if completed:
        out.update(_final_record(store, run_id, accs[-1][0]))
    if target_acc is not None and accs:
        hit = next(((e, t) for e, a, t in accs if a >= target_acc), None)
        if hit:
            out["epochs_to_target"] = hit[0]
            out["seconds_to_target"] = hit[1] or None
    steps = store.step_metrics(run_id) if accs else []
    ips = [s["images_per_sec"] for s in steps if s.get("images_per_sec")]
    out["images_per_sec"] = statistics.median(ips) if ips else None
    return out


def _final_record(store, run_id: str, final_epoch) -> dict:
    """{"correct": [bool, …], "n_test": n} from the run's per-image record of its final
    evaluation; {} when there is none (runs trained before the record existed)."""
    rec = store.test_record(run_id)
    if not rec or rec.get("epoch") != final_epoch or not rec.get("n"):
        return {}
    try:
        return {"correct": stats.unpack_correct(rec["correct"], int(rec["n"])), "n_test": int(rec["n"])}
    except (ValueError, KeyError, TypeError):
        return {}


def dataset_test_size(dataset: str | None) -> int:
    """Test images of a dataset (read from its files where they are here), 0 if unknown."""
    if not dataset:
        return 0
    try:
        from .data import dataset_info

        return int(dataset_info(dataset).test_size or 0)
    except Exception:  # noqa: BLE001 - an unreadable dataset only means 'unknown'
        return 0


def collect(store, experiment: dict, n_test: int | None = None) -> list[VariantResult]:
    """One VariantResult per variant.  ``n_test``: the test-set size if known; otherwise
    the runs' per-image records say it (all variants share the dataset), or else the
    dataset's files."""
    from .arithmetic import analyze

    runs = {v["label"]: [run_result(store, rid, experiment.get("target_acc")) for rid in v["run_ids"]]
            for v in experiment["variants"]}
    recorded = {r["n_test"] for rs in runs.values() for r in rs if r.get("n_test")}
    n = n_test or (recorded.pop() if len(recorded) == 1 else 0)
    n = n or dataset_test_size(experiment.get("base_config", {}).get("dataset"))
    res = []
    for v in experiment["variants"]:
        first = store.get_run(v["run_ids"][0]) if v["run_ids"] else None
        s = analyze(first["spec"]) if first else None
        res.append(VariantResult(v["label"], runs[v["label"]], s.total_params if s else 0,
                                 s.total_macs if s else 0, n))
    return res


# ---------------------------------------------------------------------------------------
# comparing two variants
# ---------------------------------------------------------------------------------------
@dataclass
class Comparison:
    first: VariantResult  # the higher mean final accuracy
    second: VariantResult
    method: str  # 'welch' (several seeds), 'mcnemar' (one seed, paired), 'unpaired' (one seed), 'none'
    diff: float  # first − second, accuracy as a fraction
    low: float | None = None  # the LEVEL interval of the difference
    high: float | None = None
    p: float | None = None
    df: float | None = None
    counts: tuple[int, int, int, int] | None = None  # paired: both right, only first, only second, neither
    reason: str = ""  # why there is no test (method 'none')

    @property
    def single_run(self) -> bool:
        return self.method in ("mcnemar", "unpaired")

    @property
    def winner(self) -> str | None:
        """The better variant's label when the difference is resolved, else None.  With one
        seed per variant this is a *single-run* winner (see ``single_run``)."""
        if self.low is None or self.low <= 0:
            return None
        if self.single_run and (self.p is None or self.p >= ALPHA):
            return None
        return self.first.label if self.method != "none" else None


def compare(a: VariantResult, b: VariantResult, level: float = LEVEL) -> Comparison:
    """Compare two variants' final test accuracy (see the module docstring for the tests)."""
    if (b.final_acc or 0) > (a.final_acc or 0):
        a, b = b, a
    diff = (a.final_acc or 0) - (b.final_acc or 0)
    if a.seeds >= 2 and b.seeds >= 2:
        n = a.n_test or b.n_test
        # a quarter of one image, squared: identical accuracies on every seed give a tiny
        # variance, not zero (a zero-width interval would call a one-image gap certain)
        w = stats.welch(a.finals, b.finals, level, var_floor=(0.5 / n) ** 2 if n else 1e-8)
        return Comparison(a, b, "welch", w.diff, w.low, w.high, df=w.df)
    if a.seeds == 1 and b.seeds == 1:
        return _single_run(a, b, level)
    few, many = (a, b) if a.seeds < b.seeds else (b, a)
    return Comparison(a, b, "none", diff, reason=f"{few.label} has {few.seeds} finished seed{_s(few.seeds)} and "
                      f"{many.label} {many.seeds}: an interval over seeds needs at least two of each")


def _single_run(a: VariantResult, b: VariantResult, level: float) -> Comparison:
    ra, rb = a.records[0], b.records[0]
    if ra is not None and rb is not None and len(ra) == len(rb):
        counts = stats.paired_counts(ra, rb)
        d, lo, hi = stats.newcombe_paired(*counts, level)
        return Comparison(a, b, "mcnemar", d, lo, hi, p=stats.mcnemar_exact(counts[1], counts[2]), counts=counts)
    n = a.n_test if a.n_test == b.n_test else 0
    diff = a.final_acc - b.final_acc
    if not n:
        return Comparison(a, b, "none", diff, reason="the test-set size is unknown, so one run's accuracy "
                          "has no known precision")
    xa, xb = round(a.final_acc * n), round(b.final_acc * n)
    d, lo, hi = stats.newcombe_unpaired(xa, n, xb, n, level)
    return Comparison(a, b, "unpaired", d, lo, hi, p=stats.two_proportion_p(xa, n, xb, n))


# ---------------------------------------------------------------------------------------
# the verdict in words
# ---------------------------------------------------------------------------------------
def _s(n) -> str:
    return "" if n == 1 else "s"


def pct(x: float | None, nd: int = 1) -> str:
    return "—" if x is None else f"{x * 100:.{nd}f}%"


def pts(x: float) -> str:
    """A difference of accuracies in percentage points, with a real minus sign."""
    return f"{x * 100:.1f}".replace("-", "−")


def fmt_epochs(e: float | None) -> str:
    """Epochs for people: 2, 6.3, 0.5 (never 6.33333)."""
    if e is None:
        return "—"
    return f"{e:.0f}" if abs(e - round(e)) < 0.05 else f"{e:.1f}"


def _mean_sd(r: VariantResult) -> str:
    return pct(r.final_acc) + (f" ± {r.sd * 100:.1f}" if r.sd is not None else "")


def _seed_phrase(c: Comparison) -> str:
    ka, kb = c.first.seeds, c.second.seeds
    return f"{ka} seeds per variant" if ka == kb else f"{ka} and {kb} seeds"


def comparison_text(c: Comparison) -> str:
    """The verdict on the two best variants: what was measured, the interval, the test."""
    a, b = c.first, c.second
    if c.method == "welch":
        head = (f"Verdict ({_seed_phrase(c)}, final-epoch test accuracy): {a.label} is better"
                if c.winner else f"No clear winner ({_seed_phrase(c)}, final-epoch test accuracy)")
        return (f"{head} — {a.label} {_mean_sd(a)} vs {b.label} {_mean_sd(b)} (mean ± sd over seeds). "
                f"The gap of {pts(c.diff)} points has a {LEVEL:.0%} interval of {pts(c.low)} to {pts(c.high)} "
                f"points (Welch t, {c.df:.1f} df), which "
                + ("excludes zero." if c.winner else "includes zero: more seeds would narrow it."))
    if c.single_run:
        return _single_run_text(c)
    return (f"No verdict: {c.reason}. So far {a.label} {_mean_sd(a)} ({a.seeds} seed{_s(a.seeds)}) vs "
            f"{b.label} {_mean_sd(b)} ({b.seeds} seed{_s(b.seeds)}), final-epoch test accuracy.")


def _single_run_text(c: Comparison) -> str:
    a, b, n = c.first, c.second, sum(c.counts) if c.counts else c.first.n_test
    text = ("Single-run comparison (1 seed per variant): seed-to-seed variation is not measured. "
            f"On the same {n:,} test images, {a.label} got {pct(a.final_acc)} right and {b.label} "
            f"{pct(b.final_acc)}: a gap of {pts(c.diff)} points, {LEVEL:.0%} interval {pts(c.low)} to "
            f"{pts(c.high)} points; ")
    if c.method == "mcnemar":
        text += (f"{c.counts[1]} image{_s(c.counts[1])} only {a.label} got right, {c.counts[2]} only {b.label} "
                 f"(McNemar exact test, p = {c.p:.2g}). ")
    else:
        text += (f"these runs did not record which images each got right, so the test is unpaired "
                 f"(two-proportion z-test, p = {c.p:.2g}). ")
    if c.winner:
        return text + (f"Single-run winner: {a.label} — a statement about these two trained networks, not "
                       "about the settings; another seed may reverse it. Run 3 seeds per variant for a "
                       "verdict over seeds.")
    return text + "No clear winner, even between these two runs."


def claim_text(c: Comparison, claim: tuple[str, str] | None) -> str:
    """Whether the tutorial's claim was reproduced; ``claim``: (the tutorial's setting, the claim)."""
    if claim is None or claim[0] not in (c.first.label, c.second.label):
        return ""
    tutorial, said = claim
    where = "in this single run " if c.single_run else ""
    if c.winner == tutorial:
        return f"This agrees {where}with the tutorial's choice of {tutorial} (the claim: {said})."
    if c.winner:
        return (f"The tutorial's claim was not reproduced {where}on final test accuracy: {c.winner} beat "
                f"{tutorial} (the claim: {said}).")
    return f"This neither confirms nor refutes the tutorial's claim ({said}): the difference is within the noise."


def speed_claim_text(c: Comparison, claim: tuple[str, str] | None, target_acc: float | None) -> str:
    """Whether the tutorial's choice reached the target sooner (descriptive: epochs are not tested)."""
    if claim is None or target_acc is None or claim[0] not in (c.first.label, c.second.label):
        return ""
    tut, other = (c.first, c.second) if c.first.label == claim[0] else (c.second, c.first)
    et, eo = tut.reached(), other.reached()
    if len(et) != tut.seeds or len(eo) != other.seeds or not et or not eo:
        return ""
    mt, mo = statistics.fmean(et), statistics.fmean(eo)
    if abs(mt - mo) < 0.05:
        return ""
    return (f"On epochs to {target_acc * 100:.0f}% (descriptive, not tested) the tutorial's choice was "
            f"{'slower' if mt > mo else 'faster'} here: {tut.label} took {fmt_epochs(mt)} epochs on average, "
            f"{other.label} {fmt_epochs(mo)}.")


def _reach_text(r: VariantResult, key: str, unit: str) -> str:
    got, n = r.reached(key), r.seeds
    if not got:
        return f"{r.label} never did"
    m = statistics.fmean(got)
    val = f"{fmt_epochs(m)} epoch{'' if fmt_epochs(m) == '1' else 's'}" if unit == "epochs" else f"{m:.1f} s"
    return f"{r.label} {val}" + ("" if len(got) == n else f" ({len(got)} of {n} seeds; the others never did)")


def descriptive_texts(done: list[VariantResult], target_acc: float | None) -> list[str]:
    """Time to target and the over-fitting gap: shown, not tested."""
    out = []
    if target_acc is not None:
        out.append(f"Epochs to reach {target_acc * 100:.0f}% test accuracy (descriptive, mean over seeds, not "
                   "tested): " + ", ".join(_reach_text(r, "epochs_to_target", "epochs") for r in done) + ".")
    gaps = {}
    for r in done:
        g = [x["train_acc"] - x["last_acc"] for x in r.runs
             if x.get("final_acc") is not None and x.get("train_acc") is not None]
        if g:
            gaps[r.label] = statistics.fmean(g)
    if len(gaps) == len(done):
        out.append("Train − test accuracy gap at the last epoch (over-fitting; descriptive): "
                   + ", ".join(f"{lbl} {pts(g)} points" for lbl, g in gaps.items()) + ".")
    return out


def provisional_text(results: list[VariantResult]) -> str:
    runs = [r for v in results for r in v.runs]
    finished = sum(1 for r in runs if r["status"] in FINISHED)
    figs = ", ".join(f"{v.label} {pct(v.latest_acc)} ({sum(1 for r in v.runs if r.get('last_acc') is not None)}"
                     f" of {len(v.runs)} runs)" for v in results)
    return (f"Provisional: {finished} of {len(runs)} runs finished — no verdict until every run has. "
            f"Latest test accuracy so far (mid-training figures, not final): {figs}.")


def verdict_sentences(results: list[VariantResult], target_acc: float | None = None,
                      claim: tuple[str, str] | None = None) -> tuple[Comparison | None, list[str]]:
    """(the comparison of the two best variants or None, the verdict's sentences).  ``claim``:
    (the tutorial's setting, its claim) — ``alexnet.experiments.tutorial_claim(switch)``."""
    if any(not r.done for r in results):
        return None, [provisional_text(results)]
    done = sorted((r for r in results if r.seeds), key=lambda r: r.final_acc, reverse=True)
    if len(done) < 2:
        return None, ["No verdict: fewer than two variants have a finished run (the others failed or were "
                      "stopped)."]
    c = compare(done[0], done[1])
    out = [comparison_text(c)]
    if len(done) > 2:
        out.append(f"(The two best of {len(done)} variants are compared; the others finished lower.)")
    speed = speed_claim_text(c, claim, target_acc)
    out += [t for t in (claim_text(c, claim), speed) if t]
    # with two variants the speed sentence already gives both epochs to target
    return c, out + descriptive_texts(done, None if speed and len(done) == 2 else target_acc)


def verdict(results: list[VariantResult], target_acc: float | None = None,
            claim: tuple[str, str] | None = None) -> str:
    """The verdict in plain words: it states its interval, seeds and test, names a winner
    only when the interval excludes zero, and none while runs are still training."""
    return " ".join(verdict_sentences(results, target_acc, claim)[1])


# ---------------------------------------------------------------------------------------
# the results table
# ---------------------------------------------------------------------------------------
def _runs_cell(r: VariantResult) -> str:
    counts: dict[str, int] = {}
    for x in r.runs:
        counts[x["status"]] = counts.get(x["status"], 0) + 1
    text = f"{counts.pop('completed', 0)}/{len(r.runs)} done"
    names = {"running": "training"}
    return text + "".join(f", {k} {names.get(s, s)}" for s, k in sorted(counts.items()))


def _reach_cell(r: VariantResult, key: str, fmt) -> str:
    if not r.seeds:
        return "—"
    got = r.reached(key)
    if not got:
        return "never"
    val = fmt(statistics.fmean(got))
    return val if len(got) == r.seeds else f"{val} ({len(got)} of {r.seeds})"


def results_table(results: list[VariantResult]) -> list[dict]:
    """One row per variant, every cell text ('—' where there is nothing yet, never None)."""
    rows = []
    for r in results:
        if r.seeds:
            final = f"{r.final_acc * 100:.2f}" + (f" ± {r.sd * 100:.2f}" if r.sd is not None else "")
        elif r.latest_acc is not None:
            final = f"{r.latest_acc * 100:.2f} (provisional)"
        else:
            final = "—"
        rows.append({
            "variant": r.label,
            "runs": _runs_cell(r),
            "seeds": r.seeds,
            "final test acc % (mean ± sd)": final,
            "best-epoch test acc %": f"{r.best_acc * 100:.2f}" if r.best_acc is not None else "—",
            "epochs to target": _reach_cell(r, "epochs_to_target", fmt_epochs),
            "seconds to target": _reach_cell(r, "seconds_to_target", lambda s: f"{s:.1f}"),
            "images/s": f"{r.images_per_sec:,.0f}" if r.images_per_sec else "—",
            "params": f"{r.params:,}",
        })
    return rows


def table_notes(results: list[VariantResult]) -> list[str]:
    """What the table's columns mean, and whether its speed columns can be compared."""
    notes = ["Final test accuracy is the last epoch's: the verdict uses it. 'Best-epoch' picks the best epoch "
             "on the test set itself, which flatters every variant, so it is shown but never tested.",
             "Epochs and seconds to target are descriptive (mean over the seeds that reached it; not tested)."]
    spread = [max(v) / min(v) - 1 for v in ([x["images_per_sec"] for x in r.runs if x.get("images_per_sec")]
                                            for r in results) if len(v) >= 2 and min(v) > 0]
    speed = ("images/s and seconds were timed in separate runs, one after another, so other load on the "
             "machine changes them: they are descriptive.")
    if spread and max(spread) > 0.15:
        speed += (f" Here images/s varied by up to {max(spread):.0%} between seeds of the same variant — the "
                  "machine's load changed during the experiment, so speed differences between variants are "
                  "not evidence.")
    return notes + [speed]


def format_table(rows: list[dict]) -> str:
    """Plain aligned text (for the CLI and the closing note)."""
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[str(k) for k in keys]] + [["—" if r[k] is None else str(r[k]) for k in keys] for r in rows]
    w = [max(len(c[i]) for c in cells) for i in range(len(keys))]
    lines = ["  ".join(c[i].ljust(w[i]) for i in range(len(keys))).rstrip() for c in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
