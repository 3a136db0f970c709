from setuptools import find_packages, setup

setup(
    name='sg2tf',
    version='0.1.0',
    description="StyleGAN2 for TensorFlow 2 / Keras 3 that opens NVIDIA's original network pickles",
    packages=find_packages(include=['sg2tf', 'sg2tf.*', 'legacy', 'legacy.*', 'tools', 'tools.*']),
    package_data={'tools': ['networks/*.pkl'], 'legacy': ['tf1_networks.py.txt']},
    python_requires='>=3.10',
    install_requires=['tensorflow>=2.16', 'numpy', 'pillow', 'h5py', 'tensorboard'],
    extras_require={'test': ['pytest', 'scikit-learn'], 'digits': ['scikit-learn']},
    entry_points={'console_scripts': [
        'sg2tf-generate=tools.generate:main',
        'sg2tf-train=tools.train_keras:main',
        'sg2tf-dataset-tool=tools.dataset_tool:main',
        'sg2tf-export-savedmodel=tools.export_savedmodel:main',
        'sg2tf-convert=tools.convert:main',
    ]},
)
