"""Where training runs, decided without a GPU: the precision `auto` picks on each kind of card (faked
device lists), the placement recorded, the XLA choice, and the GPU start-up lines the notebook hides."""

from __future__ import annotations

import re

import pytest

from mnist_cnn.config import Config
from mnist_cnn.io.native_logs import KNOWN_NOISE
from mnist_cnn.model import RandomAffine, build_model
from mnist_cnn.training import devices, distribute
from mnist_cnn.training.devices import Gpu, Placement
from mnist_cnn.training.xla import choose_xla

T4, V100 = Gpu("Tesla T4", (7, 5)), Gpu("Tesla V100-SXM2-16GB", (7, 0))
P100, A100 = Gpu("Tesla P100-PCIE-16GB", (6, 0)), Gpu("NVIDIA A100-SXM4-40GB", (8, 0))
L4, H100 = Gpu("NVIDIA L4", (8, 9)), Gpu("NVIDIA H100 80GB HBM3", (9, 0))


@pytest.fixture
def no_tpu(monkeypatch):
    monkeypatch.setattr(devices, "tpu_present", lambda: False)
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "fma"}))


@pytest.mark.parametrize("gpu, policy", [(A100, "mixed_bfloat16"), (L4, "mixed_bfloat16"),
                                         (H100, "mixed_bfloat16"), (T4, "mixed_float16"),
                                         (V100, "mixed_float16"), (P100, "float32"),
                                         (Gpu("unknown card"), "float32")])
def test_auto_on_a_gpu_takes_what_the_card_computes_natively(no_tpu, gpu, policy):
    for device in ("auto", "gpu", "mirrored"):
        chosen, reason = devices.choose_precision("auto", device, gpus=[gpu])
        assert chosen == policy and gpu.name in reason
    # loss scaling is what float16 needs and bfloat16 does not: the reason says which the card has
    if policy == "mixed_bfloat16":
        assert "bfloat16 natively" in reason
    if policy == "mixed_float16":
        assert "no bfloat16" in reason


def test_a_gpu_is_ignored_where_the_cpu_is_asked_for_and_a_setting_wins(no_tpu):
    assert devices.choose_precision("auto", "cpu", gpus=[T4])[0] == "float32"  # the AVX2 CPU's rule
    assert devices.choose_precision("auto", "auto", gpus=[])[0] == "float32"
    set_here = devices.choose_precision("mixed_float16", "cpu", gpus=[])
    assert set_here == ("mixed_float16", "set in the configuration")


def test_the_placement_names_the_card_its_capability_and_the_replicas():
    import tensorflow as tf

    default = tf.distribute.get_strategy()
    on_t4 = distribute.resolve_placement(default, "auto", gpus=[T4])
    assert on_t4 == Placement("gpu", "Tesla T4", 1, "7.5")
    assert on_t4.describe() == "GPU Tesla T4 (compute capability 7.5)"
    on_cpu = distribute.resolve_placement(tf.distribute.OneDeviceStrategy("/cpu:0"), "cpu", gpus=[T4])
    assert on_cpu.kind == "cpu" and on_cpu.compute_capability is None and "cores" in on_cpu.name
    assert distribute.resolve_placement(default, "auto", gpus=[]).kind == "cpu"
    assert Placement("gpu", "Tesla T4", 2, "7.5").describe().endswith(", 2 replicas")
    assert on_t4.to_dict() == {"kind": "gpu", "name": "Tesla T4", "replicas": 1, "compute_capability": "7.5"}


GPU = Placement("gpu", "Tesla T4", 1, "7.5")


def test_xla_is_off_wherever_the_augmentation_warps_and_says_why():
    """Keras' jit_compile="auto" turned XLA on for `full` and `smoke` on a GPU with determinism off,
    and the warp has no XLA kernel there ("No registered 'ImageProjectiveTransformV3' OpKernel")."""
    for profile in ("full", "smoke", "original"):
        on, reason = choose_xla(Config.from_profile(profile, deterministic=False), GPU)
        assert on is False and "no XLA kernel" in reason
    # and Keras' own "auto" is told so by the layer, for anyone compiling the model themselves
    assert RandomAffine(0.1).supports_jit is False
    model = build_model(Config.from_profile("smoke"))
    assert not all(layer.supports_jit for layer in model._flatten_layers())


def test_xla_auto_follows_keras_rules_for_networks_without_augmentation():
    quick = Config.from_profile("quick", deterministic=False)
    why = "a GPU, without augmentation or determinism: XLA fuses the step's kernels"
    assert choose_xla(quick, GPU) == (True, why)
    assert choose_xla(Config.from_profile("quick"), GPU)[0] is False  # determinism on
    assert "CPU" in choose_xla(quick, Placement("cpu", "CPU (2 cores)"))[1]
    assert choose_xla(quick, Placement("gpu", "Tesla T4", 2, "7.5"))[0] is False  # tf.distribute
    assert choose_xla(Config.from_profile("quick", xla="on"), Placement("cpu", "CPU"))[0] is True
    assert choose_xla(Config.from_profile("quick", deterministic=False, xla="off"), GPU)[0] is False


def test_xla_on_is_refused_for_an_augmented_network_in_one_line():
    with pytest.raises(ValueError, match=r"xla=on cannot train an augmented.*TensorFlow.*augment=false"):
        choose_xla(Config.from_profile("full", xla="on"), GPU)
    with pytest.raises(ValueError, match="unknown xla 'yes'"):
        Config.from_profile("quick", xla="yes")


# What TensorFlow 2.20 prints starting on Colab's T4 (as published in TensorFlow's and XLA's issues),
# after absl's prefix ("E0000 00:00:1751448150.986970   10148 ")
_REGISTERED_TWICE = "Attempting to register factory for plugin {0} when one has already been registered"
GPU_START_UP = (
    "cuda_dnn.cc:8579] Unable to register cuDNN factory: " + _REGISTERED_TWICE.format("cuDNN"),
    "cuda_blas.cc:1407] Unable to register cuBLAS factory: " + _REGISTERED_TWICE.format("cuBLAS"),
    "external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:467] Unable to register cuFFT factory: "
    + _REGISTERED_TWICE.format("cuFFT"),
    "computation_placer.cc:177] computation placer already registered. Please check linkage and avoid "
    "linking the same target more than once.",
    "cuda_executor.cc:1015] successful NUMA node read from SysFS had negative value (-1), but there must "
    "be at least one NUMA node, so returning NUMA node zero.",
    "gpu_device.cc:2019] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 13942 MB "
    "memory:  -> device: 0, name: Tesla T4, pci bus id: 0000:00:04.0, compute capability: 7.5",
    "cuda_dnn.cc:529] Loaded cuDNN version 90300",
    "service.cc:148] XLA service 0x7f4f1c006a40 initialized for platform CUDA (this does not guarantee "
    "that XLA will be used). Devices:",
    "service.cc:156]   StreamExecutor device (0): Tesla T4, Compute Capability 7.5",
    # and on a CPU, where XLA is asked for (TensorFlow 2.21)
    "service.cc:161]   StreamExecutor [0]: Host, Default Version (Driver: 0.0.0; Runtime: 0.0.0; "
    "Toolkit: 0.0.0; DNN: 0.0.0)",
    "dump_mlir_util.cc:269] disabling MLIR crash reproducer, set env var "
    "`MLIR_CRASH_REPRODUCER_DIRECTORY` to enable.",
    "device_compiler.h:188] Compiled cluster using XLA!  This line is logged at most once for the "
    "lifetime of the process.",
    # and tf.data's generator dataset on its first use, in the notebook's training cell (TensorFlow 2.21)
    "generator_dataset_op.cc:213] Memory patch applied: M_TRIM_THRESHOLD=128 kb was set.",
)
# ...and what must still show: real failures from the same source files
GPU_FAILURES = (
    "cuda_dnn.cc:535] Could not create cudnn handle: CUDNN_STATUS_INTERNAL_ERROR",
    "gpu_device.cc:2344] Cannot dlopen some GPU libraries. Skipping registering GPU devices...",
    "cuda_executor.cc:1100] failed to allocate 14.00G (15032385536 bytes) from device: "
    "RESOURCE_EXHAUSTED: out of memory",
)


def test_the_notebooks_filter_hides_gpu_start_up_lines_and_keeps_gpu_failures():
    noise = re.compile("|".join(f"(?:{p})" for p in KNOWN_NOISE))
    prefix = "I0000 00:00:1751448150.986970   10148 "
    for line in GPU_START_UP:
        assert noise.search(prefix + line), line
    for line in GPU_FAILURES:
        assert not noise.search(prefix + line), line
