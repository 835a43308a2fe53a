"""Issue 35's pieces: the training-set builder's hashing and filters, the false-colour metric, and the decodings
that keep colour inside its object (guided filter) and mute uncertain colour."""
from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tomau.metrics import METRICS, Shared
from tomau.metrics.image import false_colour
from tomau.models.effunet import EffUNetColorizer, EffUNetConfig, guided_filter

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location("build_training_set", ROOT / "scripts" / "build_training_set.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_dhash_follows_the_exclusion_lists_recipe(builder):
    # brighter to the right everywhere: every bit set; darker to the right: none
    ramp = np.tile(np.arange(0, 255, 15, dtype=np.uint8)[:17], (16, 1))
    up = Image.fromarray(np.stack([ramp] * 3, axis=2)).resize((170, 160), Image.NEAREST)
    assert builder.dhash(up).tolist() == [255] * 32
    assert builder.dhash(up.transpose(Image.FLIP_LEFT_RIGHT)).tolist() == [0] * 32
    assert builder.hex_to_hashes(["ff" * 32, "00" * 32, "short"]).shape == (2, 32)


def test_distances_match_brute_force(builder):
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    near = ref[:5].copy()
    near[:, 0] ^= 0b111  # 3 bits from their originals
    far = rng.integers(0, 256, (20, 32), dtype=np.uint8)
    hashes = np.concatenate([near, far])
    brute = np.unpackbits(hashes[:, None, :] ^ ref[None], axis=2).sum(axis=2).min(axis=1)
    assert builder.min_distance(hashes, ref).tolist() == brute.tolist()
    assert (builder.min_distance(near, ref) == 3).all()


def test_near_duplicates_keep_the_first_of_each_group(builder):
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    twin = base[7].copy()
    twin[3] ^= 0xFF  # 8 bits away: a duplicate at the builder's distance 10
    stranger = base[9].copy()
    stranger[:4] ^= 0xFF  # 32 bits away: kept
    known = rng.integers(0, 256, (10, 32), dtype=np.uint8)
    seen = known[2].copy()
    seen[0] ^= 1
    hashes = np.concatenate([base, twin[None], stranger[None], seen[None]])
    dropped = builder.near_duplicates(hashes, known)
    assert dropped.tolist() == [False] * 50 + [True, False, True]


def _jpeg(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_filters_drop_grey_drawn_tiny_and_corrupt_photos(builder):
    rng = np.random.default_rng(2)
    photo = (rng.random((200, 300, 3)) * 60 + np.linspace(0, 180, 300)[None, :, None] * [1, 0.6, 0.2]).astype(np.uint8)
    verdict, jpeg, h = builder.process((_jpeg(photo), "train"))
    assert verdict == "ok" and len(h) == 32
    assert min(Image.open(io.BytesIO(jpeg)).size) == builder.TRAIN_SHORT_SIDE
    dev_photo = np.asarray(Image.fromarray(photo).resize((600, 400)))
    verdict, jpeg, _ = builder.process((_jpeg(dev_photo), "dev"))
    assert verdict == "ok" and Image.open(io.BytesIO(jpeg)).size == (256, 256)
    grey = np.repeat(photo.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert builder.process((_jpeg(grey), "train"))[0] == "grey"
    sepia = (grey.astype(np.float32) * [1.0, 0.8, 0.6]).astype(np.uint8)  # one cast over the whole photo
    assert builder.process((_jpeg(sepia), "train"))[0] == "grey"
    drawing = np.zeros((200, 300, 3), np.uint8)
    drawing[:, :150] = (200, 30, 30)
    drawing[50:120, 180:260] = (20, 20, 220)
    buf = io.BytesIO()
    Image.fromarray(drawing).save(buf, "PNG")
    assert builder.process((buf.getvalue(), "train"))[0] == "drawing"
    assert builder.process((_jpeg(photo[:100, :100]), "train"))[0] == "tiny"
    assert builder.process((b"not an image", "train"))[0] == "corrupt"


def test_false_colour_counts_colour_invented_on_grey():
    truth = np.full((10, 10, 3), 128, np.uint8)
    truth[:, :5] = (200, 60, 60)  # a red half: colour there is not false
    pred = truth.copy()
    pred[:, 5:8] = (90, 90, 200)  # blue painted on 3 of the 5 grey columns
    assert false_colour(pred, truth) == pytest.approx(30.0)
    assert false_colour(truth, truth) == 0.0
    assert METRICS["false_colour"].score([pred], [truth], Shared()) == pytest.approx(30.0)


def test_guided_filter_keeps_colour_on_its_side_of_an_edge():
    guide = -torch.ones(1, 1, 32, 32)
    guide[..., 16:] = 1.0  # dark left, bright right
    smeared = torch.linspace(0.5, -0.5, 12)  # the colour ramps over 12 columns across the edge
    blurred = torch.cat([torch.full((10,), 0.5), smeared, torch.full((10,), -0.5)]).expand(1, 2, 32, 32).clone()
    sharp = guided_filter(guide, blurred, radius=4, eps=1e-4)
    jump = (sharp[..., 15] - sharp[..., 16]).abs()
    assert jump.min() > 0.4 > 4 * (blurred[..., 15] - blurred[..., 16]).abs().max()  # it steps where L steps
    flat = torch.full((1, 2, 32, 32), 0.3)
    assert torch.allclose(guided_filter(guide, flat, 4, 1e-3), flat, atol=1e-5)


def _tiny_effunet(**decoding) -> EffUNetColorizer:
    centres = [[a, b] for a in range(-60, 61, 20) for b in range(-60, 61, 20)]
    return EffUNetColorizer(EffUNetConfig(bins=len(centres), bin_centres=centres, mix=1.0, temperature=0.38, **decoding)).eval()


def test_uncertain_colour_is_muted_and_confident_colour_kept():
    net = _tiny_effunet(uncertain_spread=20.0)
    q = net.config.bins
    confident = torch.full((1, q, 2, 2), -30.0)
    confident[:, 0] = 30.0
    undecided = torch.zeros(1, q, 2, 2)  # every bin alike: the colour could be anything
    assert net.certainty(confident).min() > 0.99
    assert net.certainty(undecided).max() < 0.3
    reg = torch.zeros(1, 2, 2, 2)
    assert net.combine(reg, confident).abs().max() > 0.4
    plain = _tiny_effunet()
    assert net.combine(reg, undecided).abs().max() <= plain.combine(reg, undecided).abs().max() + 1e-6


def test_decoding_options_are_validated_and_change_the_output():
    with pytest.raises(Exception, match="guided_radius"):
        EffUNetConfig(bins=0, mix=0.0, guided_radius=-1).validate()
    with pytest.raises(Exception, match="uncertain_spread"):
        EffUNetConfig(bins=0, mix=0.0, uncertain_spread=10.0).validate()
    torch.manual_seed(0)
    plain = _tiny_effunet()
    guided = _tiny_effunet(guided_radius=4)
    guided.load_state_dict(plain.state_dict())
    x = torch.rand(1, 1, 64, 64) * 2 - 1
    with torch.inference_mode():
        a, b = plain(x), guided(x)
    assert a.shape == b.shape == (1, 2, 64, 64) and not torch.allclose(a, b)


def test_guided_and_uncertain_decodings_export_to_onnx():
    ort = pytest.importorskip("onnxruntime")
    from tomau.export import export_network

    torch.manual_seed(0)
    net = _tiny_effunet(guided_radius=4, guided_eps=1e-3, uncertain_spread=25.0)
    params = {k: v for k, v in vars(net.config).items()}
    config = {"task": "colorize", "generator": {"kind": "effunet", "params": params}, "image_size": 64}
    exported = export_network(net, config, "effunet")
    x = exported.inputs.example(2, torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = exported.graph(x).numpy()
    out = ort.InferenceSession(exported.data, providers=["CPUExecutionProvider"]).run(None, {exported.inputs.name: x.numpy()})[0]
    assert out.shape == ref.shape and np.abs(out - ref).max() * 255 / 110 < 0.5
