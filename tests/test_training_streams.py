"""The training loop's random streams: every draw of a step has its own stateless seed."""
import pytest

from sg2tf.training.loop import GENERATOR_DRAWS, STREAMS_PER_STEP, Stream, step_seed


def test_streams_never_share_a_seed():
    keys = [int(s) for s in Stream if s not in (Stream.G_MAIN, Stream.G_REG, Stream.D_MAIN)]
    keys += [int(s) + k for s in (Stream.G_MAIN, Stream.G_REG, Stream.D_MAIN) for k in GENERATOR_DRAWS.values()]
    assert len(keys) == len(set(keys)) and max(keys) < STREAMS_PER_STEP
    assert step_seed(7, 3, Stream.D_MAIN).numpy().tolist() == [7, 3 * STREAMS_PER_STEP + 40]
    with pytest.raises(ValueError, match='outside'):
        step_seed(0, 0, STREAMS_PER_STEP)
