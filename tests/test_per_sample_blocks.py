"""Small batches on the CPU run the high-resolution synthesis blocks once per sample (networks.run_synthesis_blocks):
same images as the batched blocks and as NVIDIA's reference arrays (relative error <= 1e-4).

The fixtures are 32-64 px, below PER_SAMPLE_BLOCKS_FROM_RES (256), so the tests lower it to 8."""
import os

import numpy as np
import pytest

import legacy
from sg2tf import networks
from conftest import DATA, rel_err

TOL = 1e-4


def _count_calls(layer):
    """Wrap `layer.call` to count its calls (Keras' __call__ looks `call` up on the instance)."""
    calls = [0]
    original = layer.call

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)
    layer.call = counted
    return calls


@pytest.mark.parametrize('name', ['f32', 'origskip32', 'resorig32gray', 'ada64', 'adapt32cond'])
def test_per_sample_blocks_match_batched_and_reference(name, monkeypatch):
    nets = legacy.load_network_pkl(os.path.join(DATA, f'{name}.pkl'), networks=('Gs',))
    Gs = nets['Gs']
    ref = dict(np.load(os.path.join(DATA, f'{name}.npz')))
    z = ref['latents']
    labels = ref['labels'] if ref['labels'].shape[1] else None
    assert 2 <= len(z) <= networks.PER_SAMPLE_BLOCKS_MAX_BATCH
    monkeypatch.setattr(networks, 'PER_SAMPLE_BLOCKS_MAX_BATCH', 0)
    batched = Gs(z, labels, truncation_psi=1.0).numpy()
    last = Gs.synthesis.blocks[-1]
    calls = _count_calls(last)
    monkeypatch.setattr(networks, 'PER_SAMPLE_BLOCKS_MAX_BATCH', 4)
    monkeypatch.setattr(networks, 'PER_SAMPLE_BLOCKS_FROM_RES', 8)
    split = Gs(z, labels, truncation_psi=1.0).numpy()
    assert calls[0] == len(z)  # the last block ran once per sample
    assert rel_err(split, batched) <= 1e-6
    assert rel_err(np.transpose(split, [0, 3, 1, 2]), ref['images_psi1']) <= TOL


def test_per_sample_blocks_slice_random_and_explicit_noise(monkeypatch):
    """Per-sample noise is sliced per sample; [1, H, W, 1] buffers are shared: explicit noise gives the same
    images split and batched."""
    Gs = legacy.load_network_pkl(os.path.join(DATA, 'f32.pkl'), networks=('Gs',))['Gs']
    z = np.random.RandomState(0).randn(3, Gs.latent_size).astype(np.float32)
    rnd = np.random.RandomState(1)
    noise = [rnd.randn(3, s, s, 1).astype(np.float32)
             for s in (networks.arch.noise_resolution(k) for k in range(Gs.synthesis.num_layers - 1))]
    monkeypatch.setattr(networks, 'PER_SAMPLE_BLOCKS_MAX_BATCH', 0)
    batched = Gs(z, noise=noise).numpy()
    monkeypatch.setattr(networks, 'PER_SAMPLE_BLOCKS_MAX_BATCH', 4)
    monkeypatch.setattr(networks, 'PER_SAMPLE_BLOCKS_FROM_RES', 8)
    assert rel_err(Gs(z, noise=noise).numpy(), batched) <= 1e-6
    random = Gs(z, noise_mode='random').numpy()
    assert random.shape == batched.shape and np.all(np.isfinite(random))
