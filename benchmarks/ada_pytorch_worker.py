"""The stylegan2-ada-pytorch side of sg2tf's same-run comparisons (generate.py, load_generate.py, train.py with
--ada-pytorch). Runs under a Python that has PyTorch, with a local checkout of NVIDIA's stylegan2-ada-pytorch
(https://github.com/NVlabs/stylegan2-ada-pytorch; not shipped with sg2tf, not imported by it) on sys.path;
TensorFlow is never imported here.

    PYTHON_WITH_TORCH benchmarks/ada_pytorch_worker.py --repo DIR TASK [options]

Tasks (each prints one line 'RESULT {json}'):
  generate  config-f generator (its own constructor, random weights): `G(z, None, truncation_psi=0.5,
            noise_mode='const')` under torch.no_grad(), best and median seconds per batch, peak RSS per phase
  convert   NVIDIA TF pickle -> its own pickle (legacy.load_network_pkl, then pickle.dump of the dict)
  load      its own pickle: time of legacy.load_network_pkl (after imports), then images from G_ema, peak RSS
  train     the config `small` of sg2tf's benchmarks/train.py with its own networks and StyleGAN2Loss, and the
            phase schedule of its training_loop (Gmain, Greg every 4, Dmain, Dreg every 16, lazy-regularization
            Adam settings, G_ema update): images per second over the timed steps
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import peak_rss_mib, reset_peak_rss, sgemm_in_process, time_calls  # noqa: E402


def config_f_generator(resolution: int):
    """stylegan2-ada-pytorch's Generator as its legacy.py converts config-f (channel_base = 2 * fmap_base)."""
    from training.networks import Generator
    return Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                     mapping_kwargs=dict(num_layers=8),
                     synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=0, conv_clamp=None,
                                           architecture='skip'))


def _timed(call, repeat: int, peak: dict) -> dict:
    """First call and `repeat` more: seconds, and the peak RSS of the first call and of the later ones."""
    reset_peak_rss()
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    peak['first'] = peak_rss_mib()
    reset_peak_rss()
    times = time_calls(call, repeat)
    peak['steady'] = peak_rss_mib()
    return {'first_s': first, 'best_s': min(times), 'median_s': sorted(times)[len(times) // 2], 'traces': None}


def task_generate(args) -> dict:
    import numpy as np
    import torch
    reset_peak_rss()
    G = config_f_generator(args.resolution).eval().requires_grad_(False)
    peak = {'build': peak_rss_mib()}  # import + build, as sg2tf's 'build' phase
    z = torch.from_numpy(np.random.RandomState(0).randn(args.batch, 512).astype(np.float32))

    def call():
        with torch.no_grad():
            return G(z, None, truncation_psi=0.5, noise_mode='const').numpy()
    r = _timed(call, args.repeat, peak)
    return {**r, 'peak_rss_mib': peak, 'sgemm': sgemm_in_process()}


def task_convert(args) -> dict:
    import legacy
    t0 = time.perf_counter()
    with open(args.pkl, 'rb') as f:
        data = legacy.load_network_pkl(f)
    with open(args.out, 'wb') as f:
        pickle.dump(data, f)
    return {'convert_s': time.perf_counter() - t0}


def task_load(args) -> dict:
    import numpy as np
    import torch
    import legacy
    peak = {'import': peak_rss_mib()}
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with open(args.pkl, 'rb') as f:
        data = legacy.load_network_pkl(f)
    load_s, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    peak['load'] = peak_rss_mib()
    G = data['G_ema']
    times = []
    for i in range(args.images):  # the latents of sg2tf's load_generate.py
        z = torch.from_numpy(np.random.RandomState(i).randn(1, G.z_dim).astype(np.float32))
        t0 = time.perf_counter()
        with torch.no_grad():
            G(z, None, truncation_psi=0.5, noise_mode='const').numpy()
        times.append(time.perf_counter() - t0)
    return {'load_s': load_s, 'load_system_s': r1.ru_stime - r0.ru_stime, 'load_faults': r1.ru_minflt - r0.ru_minflt,
            'image_s': times, 'peak_rss_mib': peak, 'peak_after_images': peak_rss_mib()}


def _adam(module, reg_interval: int, lr: float):
    """training_loop's optimizer for a network with lazy regularization every `reg_interval` steps."""
    import torch
    ratio = reg_interval / (reg_interval + 1)
    return torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=(0 ** ratio, 0.99 ** ratio), eps=1e-8)


def task_train(args) -> dict:
    """sg2tf's config `small`: fmap_base 512 (channel_base 1024), fmap_max 64, z/w 64, 2 mapping layers, skip G,
    resnet D, mbstd group 4, batch 16, lr 0.0025, R1 gamma 0.1 every 16, PL weight 2 every 4, style mixing 0.9,
    G_ema with ema_kimg 1 and ramp-up 0.05; uint8 random images (speed does not depend on content)."""
    import numpy as np
    import torch
    from training.networks import Discriminator, Generator
    from training.loss import StyleGAN2Loss
    torch.manual_seed(0)
    res, ch, batch = args.resolution, args.channels, 16
    common = dict(channel_base=1024, channel_max=64, num_fp16_res=0, conv_clamp=None)
    G = Generator(z_dim=64, c_dim=0, w_dim=64, img_resolution=res, img_channels=ch,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(architecture='skip', **common))
    D = Discriminator(c_dim=0, img_resolution=res, img_channels=ch, architecture='resnet',
                      epilogue_kwargs=dict(mbstd_group_size=4), **common)
    G.train().requires_grad_(False)
    D.train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    loss = StyleGAN2Loss(torch.device('cpu'), G.mapping, G.synthesis, D, r1_gamma=0.1, pl_weight=2.0,
                         style_mixing_prob=0.9, pl_batch_shrink=2)
    G_opt, D_opt = _adam(G, 4, 0.0025), _adam(D, 16, 0.0025)
    phases = [('Gmain', G, G_opt, 1), ('Greg', G, G_opt, 4), ('Dmain', D, D_opt, 1), ('Dreg', D, D_opt, 16)]
    seconds, calls = dict.fromkeys([p[0] for p in phases], 0.0), dict.fromkeys([p[0] for p in phases], 0)
    rnd = np.random.RandomState(0)
    data = rnd.randint(0, 256, [64, ch, res, res]).astype(np.uint8)
    nimg = 0

    def step(index: int) -> None:
        nonlocal nimg
        real = torch.from_numpy(data[(index * batch) % 64:][:batch]).to(torch.float32) / 127.5 - 1
        c = torch.zeros([batch, 0])
        for name, module, opt, interval in phases:
            if index % interval:
                continue
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            loss.accumulate_gradients(phase=name, real_img=real, real_c=c, gen_z=torch.randn([batch, 64]),
                                      gen_c=c, sync=True, gain=interval)
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
            seconds[name] += time.perf_counter() - t0
            calls[name] += 1
        with torch.no_grad():  # training_loop's G_ema update
            ema_nimg = min(1000.0, nimg * 0.05)
            beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)
        nimg += batch

    for i in range(16):  # warm-up: every phase runs at step 0
        step(i)
    for name in seconds:
        seconds[name], calls[name] = 0.0, 0
    t0 = time.perf_counter()
    for i in range(16, 16 + args.steps):
        step(i)
    dt = time.perf_counter() - t0
    return {'img_s': args.steps * batch / dt, 'ms_step': 1000 * dt / args.steps, 'batch': batch,
            'phases': {n: (1000 * seconds[n] / calls[n] if calls[n] else None, calls[n]) for n in seconds}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repo', required=True, help='a local stylegan2-ada-pytorch checkout')
    ap.add_argument('task', choices=('generate', 'convert', 'load', 'train'))
    ap.add_argument('--threads', type=int, default=None, help="torch's intra-op threads (default: its own)")
    ap.add_argument('--resolution', type=int, default=1024)
    ap.add_argument('--channels', type=int, default=1)
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--steps', type=int, default=30)
    ap.add_argument('--images', type=int, default=3)
    ap.add_argument('--pkl', default=None)
    ap.add_argument('--out', default=None)
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.repo, 'training', 'networks.py')):
        print('ERROR ' + json.dumps(f'{args.repo}: not a stylegan2-ada-pytorch checkout (no training/networks.py)'))
        return 1
    sys.path.insert(0, os.path.abspath(args.repo))
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = globals()[f'task_{args.task}'](args)
    except Exception as e:  # one line for the caller's table
        print('ERROR ' + json.dumps(f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:300]))
        return 1
    result.update(torch=torch.__version__, threads=torch.get_num_threads())
    print('RESULT ' + json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
