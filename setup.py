from setuptools import find_packages, setup

setup(
    name='sg2tf',
    version='0.1.0',
    description="StyleGAN2 for TensorFlow 2 / Keras 3 that opens NVIDIA's original network pickles",
    # sg2tf and the `legacy` shim (NVIDIA's `import legacy; legacy.load_network_pkl`); tools/ is not installed.
    packages=find_packages(include=['sg2tf', 'sg2tf.*', 'legacy', 'legacy.*']),
    package_data={'sg2tf': ['assets/*.pkl',               # the shipped network (sg2tf-generate's default)
                            'nvidia/tf1_networks.py.txt',  # the TF1 build module stored in written pickles
                            'ops/cc/*']},                  # custom-op sources, compiled on first use
    python_requires='>=3.10',
    install_requires=['tensorflow>=2.16', 'numpy', 'pillow', 'h5py', 'tensorboard', 'tqdm', 'imageio',
                      'imageio-ffmpeg'],
    extras_require={'test': ['pytest', 'scikit-learn', 'tf2onnx', 'onnx', 'onnxruntime', 'ai-edge-litert', 'safetensors'],
                    'digits': ['scikit-learn'],
                    'export': ['tf2onnx', 'onnx', 'onnxruntime', 'ai-edge-litert', 'safetensors']},
    entry_points={'console_scripts': [
        'sg2tf-generate=sg2tf.cli.generate:main',
        'sg2tf-train=sg2tf.cli.train:main',
        'sg2tf-dataset-tool=sg2tf.cli.dataset_tool:main',
        'sg2tf-export-savedmodel=sg2tf.cli.export_savedmodel:main',
        'sg2tf-export-onnx=sg2tf.cli.export_onnx:main',
        'sg2tf-export-tflite=sg2tf.cli.export_tflite:main',
        'sg2tf-convert=sg2tf.cli.convert:main',
        'sg2tf-style-mix=sg2tf.cli.style_mix:main',
        'sg2tf-interpolate=sg2tf.cli.interpolate:main',
        'sg2tf-edit=sg2tf.cli.edit:main',
        'sg2tf-project=sg2tf.cli.project:main',
    ]},
)
