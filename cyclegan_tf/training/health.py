"""Training health: the detectors that read a step's health signals (`models.health`) and say when a run is failing.

Each detector turns the signals of a step into yes or no; it fires when it has said yes for most of the last
`WINDOW` steps (after `WARMUP` steps of a process, while the moving averages settle), once per episode: the
episode ends when it has said no for most of a window, and a later one fires again. `Health.observe` feeds it a
step; `Episode` is what a firing reports, with what the detector means and the options that usually help.

How the thresholds were chosen (CPU runs at 32 and 64 px, `tests/test_health.py` has the broken ones):

- healthy runs: the demo preset (64 px CycleGAN, 1600 steps), CUT and FastCUT and pix2pix runs of the tests,
  where change stays 0.5-0.8, spread 0.6-1.1, the strongest discriminator 0.75-0.97 and the weakest above 0.65,
  after the first 100 steps;
- broken ones: `--lr 0.05` (spread below 0.05 within 100 steps: every output the same), `--no-gan` with a
  U-Net and `--lambda-identity 5` (change falls to 0.12 as the generator learns to copy), a generator held at its
  initial weights (the strongest discriminator reaches 0.99 while the GAN term climbs), a discriminator held at
  its initial weights (the weakest stays near 0.5 or below), `--lr 1e-12` (the weights move 1e-8 of their size).

Each threshold sits between the two, nearer the broken side (a false alarm costs a user's trust; a late alarm a
few hundred steps).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

from cyclegan_tf.models.health import PREFIX, is_signal

WARMUP = 100  # steps of a process before any detector speaks (the averages cover ~50 steps)
WINDOW = 100  # steps a detector looks back over
MOSTLY = 0.8  # the fraction of the window it must say yes to fire (and no to end an episode)

IDENTITY_CHANGE = 0.15  # health_change below: outputs are nearly their inputs
IDENTITY_GAN_SHARE = 0.5  # ... while the GAN terms are at most this share of the generator's loss
MODE_SPREAD = 0.25  # health_spread below: outputs for different inputs nearly the same
D_WINS_SEPARATION = 0.997  # health_D above, while the generator's GAN term does not fall ...
D_WINS_FALL = 0.97  # ... below this fraction of its value a window ago
D_LOST_SEPARATION = 0.52  # health_D_weakest (or health_D) below: the discriminator cannot tell real from fake
STALL_MOVEMENT = 1e-6  # the generators' weights moved less than this fraction of their norm since the last check
STALL_CHECKS = 2  # ... at this many checks in a row (one every STALL_EVERY steps)
STALL_EVERY = 100


@dataclass(frozen=True)
class Detector:
    """A way a run fails: its `key` (in health.json), `title`, what it means and what to do, and how a step's
    signals answer it (None: by the movement checks, `Health.observe_movement`, not by steps)."""

    key: str
    title: str
    meaning: str
    advice: str
    says_yes: Callable[[Signals], bool | None] | None = field(default=None, repr=False)  # None: the step cannot tell


@dataclass
class Signals:
    """One step's health signals (None where the model has none) and the recent GAN terms."""

    change: float | None = None
    spread: float | None = None
    D: float | None = None
    D_weakest: float | None = None
    G_gan: float | None = None
    gan_share: float | None = None
    G_gan_window_ago: float | None = None

    @classmethod
    def from_logs(cls, logs: dict, window_ago: float | None) -> Signals:
        value = {f.name: float(logs[PREFIX + f.name]) for f in fields(cls) if PREFIX + f.name in logs}
        return cls(**value, G_gan_window_ago=window_ago)


def _identity(s: Signals) -> bool | None:
    if s.change is None:
        return None
    return s.change < IDENTITY_CHANGE and (s.gan_share is None or s.gan_share <= IDENTITY_GAN_SHARE)


def _mode(s: Signals) -> bool | None:
    return None if s.spread is None else s.spread < MODE_SPREAD


def _d_wins(s: Signals) -> bool | None:
    if s.D is None or s.G_gan is None or s.G_gan_window_ago is None:
        return None
    return s.D > D_WINS_SEPARATION and s.G_gan >= D_WINS_FALL * s.G_gan_window_ago


def _d_lost(s: Signals) -> bool | None:
    weakest = s.D if s.D_weakest is None else s.D_weakest
    return None if weakest is None else weakest < D_LOST_SEPARATION


DETECTORS = (
    Detector("identity", "identity collapse",
             "the generator returns its input nearly unchanged (outputs move under 15% of the distance between the "
             "two domains' images) while the reconstruction terms outweigh the GAN term",
             "lower --lambda-identity (e.g. 0.1 or 0), or raise the GAN term's weight against the cycle's "
             "(--lambda-A/--lambda-B); a U-Net generator copies most easily: try a ResNet one (--netG)", _identity),
    Detector("mode", "mode collapse",
             "the outputs for different inputs are nearly the same (they differ under 25% as much as real images "
             "of the target domain do)",
             "lower --lr (e.g. by 10x), keep an image pool (--pool-size 50), try --gan-mode lsgan or wgangp; on a "
             "small set, augment it (DiffAugment: --augment diffaugment where the model has it)", _mode),
    Detector("d_wins", "discriminator wins",
             "a discriminator tells real from generated images apart almost always (ROC AUC above 0.997) and the "
             "generator's GAN loss does not fall: the generator gets no useful gradient",
             "lower the discriminator's capacity (--ndf, --n-layers-D, --netD n_layers), keep an image pool "
             "(--pool-size 50), try --gan-mode lsgan or hinge; check the generator learns at all (--lr)", _d_wins),
    Detector("d_lost", "discriminator lost",
             "a discriminator is at chance or fooled (ROC AUC under 0.52): it cannot tell real from generated "
             "images, so the GAN term teaches the generator nothing",
             "raise the discriminator's capacity (--ndf, --n-layers-D), check its learning rate (--lr) and "
             "--gan-mode; with --pool-size 0 try 50", _d_lost),
    Detector("stalled", "stalled",
             "the generators' weights have not moved (under 1e-6 of their size over 100 steps, twice): no loss "
             "term can change",
             "raise --lr (Adam's steps are about --lr in size), check --lr-policy and --epoch-count, and that the "
             "generators are not frozen"),
)
BY_KEY = {detector.key: detector for detector in DETECTORS}


@dataclass
class Episode:
    """A detector fired: from which step it looked wrong (`since`), when it fired (`step`) and ended (`ended`,
    None while it lasts), the signal values then, and what it means and what to do."""

    key: str
    title: str
    since: int
    step: int
    values: dict[str, float]
    meaning: str
    advice: str
    ended: int | None = None

    def line(self) -> str:
        """One line for a log or a terminal."""
        return f"training health: {self.title} since step {self.since}: {self.meaning}. Try: {self.advice}"

    def to_dict(self) -> dict:
        return asdict(self)


class Health:
    """The detectors' state over a run: feed `observe` every step (and `observe_movement` every STALL_EVERY
    steps); it returns the episodes that start."""

    def __init__(self, start_step: int = 0, episodes: list[Episode] | None = None):
        self.start_step = start_step  # the process's first step: the averages warm up again after a resume
        self.episodes: list[Episode] = list(episodes or [])
        # each detector's (step, answer) over the last WINDOW steps it could judge
        self.answers = {d.key: collections.deque(maxlen=WINDOW) for d in DETECTORS if d.says_yes}
        self.gan_history: collections.deque[float] = collections.deque(maxlen=WINDOW + 1)
        self.still: list[bool] = []  # the movement checks' answers, newest last
        self.judged: collections.Counter[str] = collections.Counter()  # steps (checks) each detector judged
        self.latest: dict[str, float] = {}

    def active(self) -> list[Episode]:
        return [e for e in self.episodes if e.ended is None]

    def observe(self, step: int, logs: dict) -> list[Episode]:
        """One step's logs (`health_*` values) -> the episodes that start at this step."""
        self.latest = {k: float(v) for k, v in logs.items() if is_signal(k)}
        if PREFIX + "G_gan" in logs:
            self.gan_history.append(float(logs[PREFIX + "G_gan"]))
        if step - self.start_step < WARMUP:
            return []
        window_ago = self.gan_history[0] if len(self.gan_history) > WINDOW else None
        signals = Signals.from_logs(logs, window_ago)
        started = []
        for detector in DETECTORS:
            if not detector.says_yes:
                continue
            answer = detector.says_yes(signals)
            if answer is None:
                continue
            answers = self.answers[detector.key]
            answers.append((step, bool(answer)))
            self.judged[detector.key] += 1
            episode = self._ongoing(detector.key)
            yes = sum(said for _, said in answers)
            needed = round(MOSTLY * WINDOW)
            if episode is None and len(answers) == WINDOW and yes >= needed:
                since = next(at for at, said in answers if said)  # the window's first step that looked wrong
                started.append(self._start(detector, since, step))
            elif episode is not None and len(answers) == WINDOW and len(answers) - yes >= needed:
                episode.ended = step
        return started

    def observe_movement(self, step: int, movement: float) -> list[Episode]:
        """The generators' weights moved `movement` (a fraction of their norm) since the previous check."""
        self.latest["health_movement"] = movement
        self.still.append(movement < STALL_MOVEMENT)
        self.judged["stalled"] += 1
        episode = self._ongoing("stalled")
        if episode is None and len(self.still) >= STALL_CHECKS and all(self.still[-STALL_CHECKS:]):
            return [self._start(BY_KEY["stalled"], step - STALL_CHECKS * STALL_EVERY, step)]
        if episode is not None and not self.still[-1]:
            episode.ended = step
        return []

    def _ongoing(self, key: str) -> Episode | None:
        return next((e for e in self.active() if e.key == key), None)

    def _start(self, detector: Detector, since: int, step: int) -> Episode:
        episode = Episode(detector.key, detector.title, max(since, 0), step, dict(self.latest), detector.meaning,
                          detector.advice)
        self.episodes.append(episode)
        return episode

    def to_dict(self) -> dict:
        """What `health.json` holds: every episode, the latest signals, and how many steps (movement checks) each
        detector judged in this process."""
        return {"episodes": [e.to_dict() for e in self.episodes], "latest": self.latest, "judged": dict(self.judged)}

    @classmethod
    def from_dict(cls, saved: dict, start_step: int) -> Health:
        """A resumed run's health: its earlier episodes (the ones after `start_step` belong to steps it redoes)."""
        episodes = [Episode(**e) for e in saved.get("episodes", []) if e["step"] <= start_step]
        for episode in episodes:  # an episode open when the run stopped is judged afresh
            episode.ended = episode.ended if episode.ended is not None else start_step
        return cls(start_step, episodes)


def summary(episodes: list[Episode]) -> list[str]:
    """The end-of-training lines: none found, or one per episode."""
    if not episodes:
        return ["training health: no problem detected"]
    return [episode.line() + ("" if episode.ended is None else f" (ended at step {episode.ended})")
            for episode in episodes]
