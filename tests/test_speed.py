"""Speed paths run correctly on CPU: mixed precision (bf16, fp16 with loss scaling), XLA, several
steps per execution; and the FLOP counter is right. (Speed itself is measured by `make bench`.)"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.models.cycle_gan import CycleGAN
from cyclegan_tf.models.precision import cpu_has_native_bfloat16, dtype_policy
from cyclegan_tf.nn.networks import count_multiply_adds, define_discriminator, define_generator


def _fit(model, steps, size=32):
    x = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype("float32")
    data = tf.data.Dataset.from_tensors((x, x[:, ::-1].copy())).repeat()
    return model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False).history


@pytest.mark.parametrize("precision,compute", [("bf16", "bfloat16"), ("fp16", "float16")])
def test_mixed_precision_step_is_finite_with_float32_outputs_and_weights(precision, compute):
    cfg = TrainConfig(dataset="x", netG="resnet_6blocks", ngf=8, ndf=8, mixed_precision=precision, seed=0)
    model = CycleGAN.build(cfg, 10, (32, 32))
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was
    history = _fit(model, 3)
    assert all(np.isfinite(v[-1]) for v in history.values())
    x = np.zeros((1, 32, 32, 3), "float32")
    assert model.G_AB.get_layer("stem_conv").compute_dtype == compute
    assert model.G_AB.get_layer("head_conv").compute_dtype == "float32"  # the layer that writes the image
    assert model.G_AB(x).dtype == tf.float32 and model.D_A(x).dtype == tf.float32
    assert all(w.dtype == "float32" for w in model.G_AB.weights)
    assert model.pool_A.images.dtype == "float32"
    if precision == "fp16":
        assert isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert int(model.step_counter.numpy()) == 3  # loss scaling may skip optimizer steps, not ours


def test_xla_and_steps_per_execution():
    cfg = TrainConfig(dataset="x", netG="resnet_6blocks", ngf=8, ndf=8, jit_compile="on", steps_per_execution=2,
                      seed=0)
    model = CycleGAN.build(cfg, 10, (32, 32))
    model.watch_health()  # its signals compile into the step too
    assert model.jit_compile is True
    history = _fit(model, 4)
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert 0 <= history["health_D_weakest"][-1] <= history["health_D"][-1] <= 1 and history["health_change"][-1] > 0
    assert int(model.step_counter.numpy()) == 4


def test_dtype_policy_choices():
    assert dtype_policy("off") == "float32" and dtype_policy("bf16") == "mixed_bfloat16"
    assert dtype_policy("fp16") == "mixed_float16"
    # auto: fp16 on a GPU, else bf16 where the CPU has it natively, else off
    if tf.config.list_physical_devices("GPU"):
        expected = "mixed_float16"
    else:
        expected = "mixed_bfloat16" if cpu_has_native_bfloat16() else "float32"
    assert dtype_policy("auto") == expected
    with pytest.raises(ValueError):
        dtype_policy("int8")


def test_native_bfloat16_needs_the_cpu_flag_and_onednn_allowed_to_use_it():
    bf16_cpu, avx2_cpu = "flags : fpu avx2 avx512f avx512_bf16\n", "flags : fpu avx2 fma\n"
    assert cpu_has_native_bfloat16(bf16_cpu, {}) and not cpu_has_native_bfloat16(avx2_cpu, {})
    # oneDNN capped below AVX512_CORE_BF16 (how an AVX-512 machine runs the AVX2 machines' kernels)
    assert not cpu_has_native_bfloat16(bf16_cpu, {"ONEDNN_MAX_CPU_ISA": "avx2"})
    assert not cpu_has_native_bfloat16(bf16_cpu, {"DNNL_MAX_CPU_ISA": "AVX512_CORE"})
    assert cpu_has_native_bfloat16(bf16_cpu, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"})


def test_flop_counter_against_a_hand_count():
    # PatchGAN n_layers 1 on 32x32, ndf 4, 3 channels in:
    # conv0 4x4 s2 (pad 1): 16x16 out, 16*16*16*3*4; conv1 4x4 s1: 15x15, 15*15*16*4*8; logits: 14x14, 14*14*16*8*1
    model = define_discriminator("n_layers", 3, 4, "instance", n_layers=1)
    hand = 16 * 16 * 16 * 3 * 4 + 15 * 15 * 16 * 4 * 8 + 14 * 14 * 16 * 8
    assert count_multiply_adds(model, 32, 32) == hand
    # A transposed conv counts its input pixels: the ResNet's two up-convs at 8x8 and 16x16 for a 32 px image.
    g = define_generator("resnet_6blocks", 3, 3, 4, "instance", False)
    ups = 8 * 8 * 9 * 16 * 8 + 16 * 16 * 9 * 8 * 4
    stem_head = 32 * 32 * 49 * 3 * 4 + 32 * 32 * 49 * 4 * 3
    downs = 16 * 16 * 9 * 4 * 8 + 8 * 8 * 9 * 8 * 16
    blocks = 6 * 2 * 8 * 8 * 9 * 16 * 16
    assert count_multiply_adds(g, 32, 32) == stem_head + downs + blocks + ups


def test_reference_multiply_adds_at_256():
    """The reference's figures: ResNet-9 generator 49.6 G, PatchGAN 3.15 G multiply-adds at 256 px."""
    g = define_generator("resnet_9blocks", 3, 3, 64, "instance", False)
    d = define_discriminator("basic", 3, 64, "instance")
    assert round(count_multiply_adds(g, 256, 256) / 1e9, 1) == 49.6
    assert round(count_multiply_adds(d, 256, 256) / 1e9, 2) == 3.15


def test_bench_runs_end_to_end_at_a_tiny_size(tmp_path):
    """A smoke run of `make bench` (every measurement in its own process); speed itself is not asserted."""
    import json

    from cyclegan_tf.experiments import bench

    out = tmp_path / "bench.json"
    # (--xla and --deterministic add rows of the same kind, each a process of its own: left out here for time;
    # test_xla_and_steps_per_execution compiles the step with XLA)
    bench.main(["--nets", "resnet_6blocks", "--sizes", "32", "--precisions", "off", "--ngf", "4", "--steps", "2",
                "--json", str(out)])
    results = json.loads(out.read_text())
    (row,) = results["rows"]
    assert row["label"] == "resnet_6blocks 32px float32"
    assert row["train_step_s"] > 0 and row["infer_img_s"] > 0 and row["train_peak_rss_mib"] > 100
    # FLOPs per step: 2 FLOPs per multiply-add x 3 (trained pass) x 6 passes x (G + D) multiply-adds.
    g = define_generator("resnet_6blocks", 3, 3, 4, "instance", False)
    d = define_discriminator("basic", 3, 4, "instance")
    expected = 2 * 3 * 6 * (count_multiply_adds(g, 32, 32) + count_multiply_adds(d, 32, 32))
    assert row["train_gflops"] == pytest.approx(expected / 1e9)
    assert results["conv_peak"]["off"]["conv_peak_gflop_s"] > 1
    assert results["pipeline"]["32"]["pipeline_cached_img_s"] > 0


def test_bench_table_states_the_ratio_to_pytorch_at_the_same_precision():
    from cyclegan_tf.experiments.bench import format_table

    def row(precision, seconds, images_per_second):
        name = "float32" if precision == "off" else precision
        return dict(label=f"resnet_9blocks 256px {name}", net_g="resnet_9blocks", size=256, precision=precision,
                    train_step_s=seconds, train_img_s=1 / seconds, train_gflop_s=900.0, peak_fraction=0.5,
                    infer_img_s=images_per_second, train_peak_rss_mib=3000.0, infer_peak_rss_mib=900.0)

    def torch_numbers(seconds, images_per_second):
        return {"train_step_s": seconds, "infer_img_s": images_per_second, "torch_version": "2.13.0",
                "peak_rss_mib": 2000.0}

    results = {"rows": [row("off", 2.0, 3.0), row("bf16", 1.0, 6.0)],
               "conv_peak": {"off": {"conv_peak_gflop_s": 1800.0}}, "pipeline": {},
               # as the JSON file has them: sizes as strings
               "torch": {"off": {"256": torch_numbers(7.0, 1.5)}, "bf16": {"256": torch_numbers(4.0, 2.0)}}}
    lines = format_table(results).splitlines()
    float32 = next(line for line in lines if line.startswith("| resnet_9blocks 256px float32"))
    bf16 = next(line for line in lines if line.startswith("| resnet_9blocks 256px bf16"))
    assert "| 3.50x | 2.00x |" in float32  # 7.0 / 2.0 s per step; 3.0 / 1.5 images per second
    assert "| 4.00x | 3.00x |" in bf16  # against PyTorch's bf16 autocast, not its float32
    assert "| 3000 |" in float32 and "1800 GFLOP/s" in "\n".join(lines)
    assert sum(line.startswith("| PyTorch 2.13.0 reference") for line in lines) == 2


def test_bench_table_shows_the_cluster_rows_and_overhead():
    from cyclegan_tf.experiments.bench import Case, format_table

    single, cluster = Case("resnet_9blocks", 128, "off", batch=2), Case("resnet_9blocks", 128, "off", batch=2,
                                                                         workers=2)
    assert (single.label, cluster.label) == ("resnet_9blocks 128px float32 batch 2",
                                             "resnet_9blocks 128px float32 batch 2 on 2 workers")
    rows = [dict(label=case.label, net_g="resnet_9blocks", size=128, train_step_s=seconds, train_img_s=2 / seconds,
                 train_gflop_s=100.0, peak_fraction=0.5, train_peak_rss_mib=2000.0)
            for case, seconds in ((single, 5.0), (cluster, 6.0))]
    table = format_table({"rows": rows, "conv_peak": {}, "pipeline": {}, "cluster_overhead": 1.2})
    assert "| resnet_9blocks 128px float32 batch 2 on 2 workers | 6.00 | 0.33 | 100 | 50% |  | 2000 |" in table
    assert "take 1.20x the step time of 1 process with batch 2" in table
