"""The latch: raised verdicts clear only after `clear_after` seconds clean."""

from __future__ import annotations

import pytest

from sidecar.signals.hysteresis import Latch


class TestLatch:
    def test_flapping_input_stays_raised(self) -> None:
        """Raised, clean, raised, clean every second: reported raised throughout."""
        latch = Latch(10.0)
        levels = [latch.hold("s", 1 if t % 2 == 0 else 0, float(t)).level for t in range(30)]
        assert levels == [1] * 30

    def test_clears_after_clean_for_the_hold(self) -> None:
        """After the last raise, clean polls read raised for 10 s, then ok."""
        latch = Latch(10.0)
        latch.hold("s", 2, 0.0)
        assert latch.hold("s", 0, 9.9).level == 2
        assert latch.hold("s", 0, 9.9).held_for == pytest.approx(9.9)
        assert latch.hold("s", 0, 10.0).level == 0
        assert latch.hold("s", 0, 11.0).level == 0

    def test_unknown_while_held_reads_raised_and_never_ok(self) -> None:
        """Too little data during the hold does not clear the raised level."""
        latch = Latch(5.0)
        latch.hold("s", 1, 0.0)
        assert latch.hold("s", -1, 2.0).level == 1
        assert latch.hold("s", -1, 6.0).level == -1

    def test_bad_hold_raises(self) -> None:
        """A negative hold names itself."""
        with pytest.raises(ValueError, match="clear_after=-1"):
            Latch(-1.0)
