"""Which number format the embedder computes in, chosen from the CPU's flags or the setting."""

from __future__ import annotations

import pytest

from ragapp import factory
from ragapp.embedder import choose_precision
from ragapp.settings import Settings, SettingsError

SAPPHIRE_RAPIDS = {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile"}
ZEN3 = {"avx2", "fma", "sse4_2"}  # AVX2, no AVX-512 and no BF16
ARM_OR_UNKNOWN: set[str] = set()  # /proc/cpuinfo unreadable or without x86 flags


def test_auto_takes_bf16_only_where_the_cpu_has_it():
    chosen = choose_precision("auto", SAPPHIRE_RAPIDS)
    assert chosen.value == "bf16"
    assert "amx_bf16" in chosen.reason and "avx512_bf16" in chosen.reason
    assert choose_precision("auto", {"avx512f", "avx512_bf16"}).value == "bf16"
    for flags in (ZEN3, ARM_OR_UNKNOWN, {"avx512f", "avx512_vnni"}):
        chosen = choose_precision("auto", flags)
        assert chosen.value == "float32"
        assert "no native BF16" in chosen.reason


def test_a_forced_precision_is_kept_and_says_so():
    assert choose_precision("float32", SAPPHIRE_RAPIDS).value == "float32"
    forced = choose_precision("bf16", ZEN3)
    assert forced.value == "bf16"
    assert "emulated" in forced.reason  # the person who forced it is told it will be slow here
    assert "emulated" not in choose_precision("bf16", SAPPHIRE_RAPIDS).reason


def test_precision_setting_is_checked_and_reaches_the_embedder(monkeypatch):
    with pytest.raises(SettingsError, match="embed_precision"):
        Settings.load(env={"RAGAPP_EMBED_PRECISION": "fp16"})
    for value in ("float32", "bf16"):
        settings = Settings.load(env={"RAGAPP_EMBED_PRECISION": value})
        assert factory.make_embedder(settings).precision.value == value
    monkeypatch.setattr("ragapp.embedder.cpu_flags", lambda: ZEN3)
    assert factory.make_embedder(Settings()).precision.value == "float32"
    monkeypatch.setattr("ragapp.embedder.cpu_flags", lambda: SAPPHIRE_RAPIDS)
    assert factory.make_embedder(Settings()).precision.value == "bf16"


def test_bf16_linear_packed_or_not_computes_the_float32_layer(monkeypatch):
    torch = pytest.importorskip("torch")
    from ragapp import bf16
    from ragapp.bf16 import Bf16Linear

    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 96)
    x = torch.randn(3, 7, 64)
    expected = layer(x)
    packed = Bf16Linear(layer)
    can_pack = bf16.can_pack()  # oneDNN packs bf16 weights only on CPUs with AVX-512 (or AVX-NE-CONVERT)

    def no_packing(*args):
        raise RuntimeError("no oneDNN packing in this build")

    monkeypatch.setattr(torch.ops.mkldnn, "_reorder_linear_weight", no_packing)
    unpacked = Bf16Linear(layer)
    assert packed.packed == can_pack and not unpacked.packed
    for made in (packed, unpacked):
        got = made(x)
        assert got.shape == expected.shape and got.dtype == torch.bfloat16
        assert torch.nn.functional.cosine_similarity(got.float(), expected, dim=-1).min() > 0.999


def test_ragapp_settings_says_which_precision_is_in_force_and_why(tmp_path, monkeypatch, capsys):
    from ragapp.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAGAPP_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("RAGAPP_CHROMA", "embedded")
    monkeypatch.setattr("ragapp.embedder.cpu_flags", lambda: ZEN3)
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "embed_precision = auto" in out
    assert "# embedding precision: float32 (auto: this CPU has no native BF16" in out
    monkeypatch.setattr("ragapp.embedder.cpu_flags", lambda: SAPPHIRE_RAPIDS)
    assert main(["settings"]) == 0
    assert "# embedding precision: bf16 (auto: this CPU has native BF16 (amx_bf16, avx512_bf16))" in capsys.readouterr().out
