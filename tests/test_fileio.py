"""sg2tf.fileio: the one atomic-write helper (temporary name beside the target, rename on success)."""
import os

import pytest

from sg2tf.fileio import OutputError, atomic_open, atomic_write


def test_file_appears_only_on_success(tmp_path):
    target = tmp_path / 'a.weights.h5'
    with atomic_write(target) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith('.weights.h5')
        with open(tmp, 'w') as f:
            f.write('x')
        assert not target.exists()
    assert target.read_text() == 'x' and os.listdir(tmp_path) == ['a.weights.h5']


def test_failure_leaves_target_and_no_temporary(tmp_path):
    target = tmp_path / 'a.txt'
    target.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_open(target, 'w') as f:
            f.write('new')
            raise RuntimeError('boom')
    assert target.read_text() == 'old' and os.listdir(tmp_path) == ['a.txt']


def test_directory_replaced_whole(tmp_path):
    target = tmp_path / 'out'
    target.mkdir()
    (target / 'old').write_text('1')
    with atomic_write(target, directory=True) as tmp:
        open(os.path.join(tmp, 'new'), 'w').close()
    assert os.listdir(target) == ['new'] and os.listdir(tmp_path) == ['out']
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target, directory=True) as tmp:
            raise KeyboardInterrupt
    assert os.listdir(target) == ['new'] and os.listdir(tmp_path) == ['out']


def test_refusals_are_one_line(tmp_path):
    (tmp_path / 'f').write_text('')
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / 'x').write_text('')
    cases = [(dict(target=tmp_path / 'f', overwrite=False), 'file exists'),
             (dict(target=tmp_path / 'd'), 'is a directory'),
             (dict(target=tmp_path / 'f', directory=True), 'not a directory'),
             (dict(target=tmp_path / 'd', directory=True, overwrite=False), 'not empty'),
             (dict(target=tmp_path / 'no' / 'f'), 'does not exist')]
    for kwargs, match in cases:
        with pytest.raises(OutputError, match=match) as e:
            with atomic_write(**kwargs):
                pass
        assert '\n' not in str(e.value)


def test_no_overwrite_rechecked_before_rename(tmp_path):
    """overwrite=False: a target that appears while the temporary is written is kept, not replaced."""
    target = tmp_path / 'd'
    with pytest.raises(OutputError, match='not empty'):
        with atomic_write(target, directory=True, overwrite=False) as tmp:
            open(os.path.join(tmp, 'new'), 'w').close()
            target.mkdir()
            (target / 'theirs').write_text('')
    assert os.listdir(target) == ['theirs'] and os.listdir(tmp_path) == ['d']
