"""Colour by hand, learned: the hints decoder of effunet (Zhang et al. 2017), its training from a model, points files,
hint maps, suggestions, and `tomau hint --points / --suggest`."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tomau.errors import TomauError
from tomau.guided import HintSession, Point, hint_grid, parse_points, points_csv, read_points
from tomau.models.effunet import HINT_CHANNELS, EffUNetColorizer, EffUNetConfig, grow_hint_decoder
from tomau.training.effunet import simulate_hints


def _config(zhang_bins, **kw) -> EffUNetConfig:
    centres = np.load(zhang_bins / "pts_in_hull.npy").astype(float).tolist()
    return EffUNetConfig(decoder_widths=[8, 8, 8], bins=len(centres), bin_centres=centres, **kw)


def test_the_hints_decoder_starts_as_the_decoder_and_no_hints_take_the_decoder_itself(zhang_bins):
    torch.manual_seed(0)
    base = EffUNetColorizer(_config(zhang_bins)).eval()
    for p in base.decoder.parameters():  # not the zero-initialised defaults: every weight matters
        p.data.normal_(0, 0.3)
    net = EffUNetColorizer(_config(zhang_bins, hints=True)).eval()
    net.load_state_dict(grow_hint_decoder(base.state_dict(), net))
    assert all(c.weight.abs().sum() == 0 for c in net.hint_decoder.hint_in)
    l = torch.rand(3, 1, 64, 64) * 2 - 1
    hints = torch.zeros(3, HINT_CHANNELS, 16, 16)
    hints[0, :, 4, 5] = torch.tensor([0.4, -0.2, 1.0])
    with torch.no_grad():
        want = base(l)
        assert torch.allclose(net(l, hints=hints), want, atol=1e-6)  # hint weights at zero: the same colours
        for p in net.hint_decoder.parameters():
            p.data.add_(torch.randn_like(p) * 0.5)
        moved = net(l, hints=hints)
        assert torch.equal(net(l), want)  # no hints at all: the decoder itself
        assert torch.equal(moved[1:], want[1:])  # the photos without hints, in the same batch
        assert not torch.allclose(moved[0], want[0], atol=1e-3)
    with pytest.raises(TomauError, match="takes no hints"):
        base(l, hints=hints)


def test_simulated_hints_are_patch_means_of_the_truth():
    torch.manual_seed(1)
    ab = torch.rand(64, 2, 16, 16) * 2 - 1
    hints = simulate_hints(ab, p=0.25, stroke_share=0.0, max_side=1)
    mask = hints[:, 2] > 0
    assert hints.shape == (64, HINT_CHANNELS, 16, 16)
    assert torch.allclose(hints[:, :2][mask[:, None].expand(-1, 2, -1, -1)], ab[mask[:, None].expand(-1, 2, -1, -1)])
    counts = mask.flatten(1).sum(1).float()
    assert (counts == 0).any() and counts.mean() > 1  # often none, a few on average (mean (1 - p) / p = 3)
    assert simulate_hints(ab, p=1.0, stroke_share=0.0).abs().sum() == 0
    strokes = simulate_hints(ab, p=1.0, stroke_share=1.0)[:, 2].flatten(1).sum(1)
    assert (strokes >= 1).all()  # every crop got a stroke of its own true colours
    big = simulate_hints(ab[:1], p=0.01, stroke_share=0.0, max_side=2)
    m = big[0, 2] > 0
    assert torch.all(big[0, :2][:, ~m] == 0)  # ab only where the mask is


def test_hint_grid_averages_the_hints_of_a_cell():
    grid = hint_grid(np.array([1.0, 3.0, 90.0]), np.array([1.0, 2.0, 50.0]), np.array([[10.0, 0.0], [30.0, -22.0], [0.0, 55.0]]),
                     100, 60, 4)
    assert grid.shape == (1, 3, 4, 4)
    assert grid[0, 2].sum() == 2 and grid[0, 2, 0, 0] == 1 and grid[0, 2, 3, 3] == 1
    assert torch.allclose(grid[0, :2, 0, 0], torch.tensor([20.0, -11.0]) / 110)
    assert torch.allclose(grid[0, :2, 3, 3], torch.tensor([0.0, 55.0]) / 110)
    with pytest.raises(TomauError, match="outside"):
        hint_grid(np.array([100.0]), np.array([0.0]), np.zeros((1, 2)), 100, 60, 4)


def test_points_files(tmp_path):
    points = [Point(3, 4.5, "#C0302a"), Point(0, 0, "00ff00")]
    path = tmp_path / "p.csv"
    path.write_text(points_csv(points))
    assert read_points(path) == [Point(3, 4.5, "#c0302a"), Point(0, 0, "#00ff00")]
    assert parse_points("x,y,color\n") == []
    for bad, says in (("a,b\n1,2", "header"), ("x,y,color\n1,2,red", "line 2"), ("x,y,color\n1,2", "line 2")):
        with pytest.raises(TomauError, match=says):
            parse_points(bad)


@pytest.fixture
def hints_run(tmp_path, colour_folder, zhang_bins):
    """A tiny effunet (frozen encoder, 2 steps), then its hints decoder trained 4 steps from it (--hints --init)."""
    from tomau.training.config import fresh_train_config
    from tomau.training.effunet import EffUNetFamily
    from tomau.training.trainer import train

    def cfg(out, steps, **family):
        given = {"data": str(colour_folder), "out": str(out), "name": "e", "bins": str(zhang_bins), "image_size": 32,
                 "batch_size": 4, "steps": steps, "workers": 0, "log_every": 2, "ckpt_every": 2, "sample_every": 2,
                 "warmup": 1, "ema": 0.9, "views": 1, **family}
        c = fresh_train_config(EffUNetFamily, given)
        c.model.generator.decoder_widths = [8, 8, 8]
        return c

    base = train(cfg(tmp_path / "base", 2, cache=str(tmp_path / "cache0")), quiet=True)
    hinted = cfg(tmp_path / "hints", 4, init=str(base), hints=True, hint_p=0.3, lr=0.05)
    return base, hinted, train


def test_hints_training_grows_from_a_model_trains_only_the_hints_decoder_and_resumes(hints_run):
    from tomau.inference import load_model
    from tomau.modelfile import load_model_file
    from tomau.training.trainer import read_state

    base, cfg, train = hints_run
    assert cfg.model.cache_weights == str(base)  # the cache holds the features of the encoder the model runs with
    straight = train(cfg, quiet=True)
    cfg.out = str(straight.parent.parent / "again")
    cfg.max_minutes = 1e-9
    first = train(cfg, quiet=True)
    cfg.max_minutes = 0
    train(cfg, resume_dir=str(first), quiet=True)
    a, b = read_state(straight / "state.safetensors")["nets"]["G"], read_state(first / "state.safetensors")["nets"]["G"]
    assert all(torch.equal(v, b[k]) for k, v in a.items())  # resumed exactly, simulated hints included
    old = load_model_file(base)[1]  # what --init read
    assert all(torch.equal(v, old[k]) for k, v in a.items() if k in old and not k.startswith("hint_decoder."))  # the rest is frozen
    assert a["hint_decoder.hint_in.0.weight"].abs().sum() > 0  # the hint convs learned
    plain, hinted = load_model(str(base), backend="torch"), load_model(str(straight), backend="torch")
    photo = (np.random.default_rng(0).random((48, 80, 3)) * 255).astype(np.uint8)
    session = HintSession(hinted, photo)
    assert np.array_equal(session.colorize([]), plain.colorize_arrays([photo])[0])  # no hints: the model it grew from
    assert session.colorize([Point(10, 10, "#ff0000")]).shape == (48, 80, 3)


def test_suggestions_are_the_most_likely_bins_there(hints_run):
    from tomau.inference import load_model

    base, _, _ = hints_run
    model = load_model(str(base), backend="torch")
    model.net.config.hints = True  # the base model grown with a hints decoder, as --hints --init does
    grown = EffUNetColorizer(model.net.config).eval()
    grown.load_state_dict(grow_hint_decoder(model.net.state_dict(), grown))
    model.net = grown
    session = HintSession(model, np.full((64, 48, 3), 128, np.uint8))
    suggestions = session.suggest(20, 30, k=4)
    assert len(suggestions) == 4 and all(s[0].startswith("#") and len(s[0]) == 7 for s in suggestions)
    probs = [p for _, p in suggestions]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    logits = session.heads(None)[1][0, :, 30 * 8 // 64, 20 * 8 // 48]
    assert abs(probs[0] - float(torch.softmax(logits, 0).max())) < 1e-6  # the first is the most likely bin


def test_a_point_colours_around_it_and_not_far_away(tiny_model_file):
    """The default model: a saturated red point on a sample photo reddens the result around it, and a corner far
    from it keeps the default's colours (to within a few levels); without hints, the default's output exactly."""
    from tomau.images import load_image
    from tomau.inference import load_model
    from tomau.modelfile import SAMPLES_DIR

    photo = load_image(SAMPLES_DIR / "1860_girls.jpg").pixels
    h, w = photo.shape[:2]
    with pytest.raises(TomauError, match="not an effunet"):
        HintSession(load_model(str(tiny_model_file), backend="torch"), photo)
    session = HintSession(load_model("default", backend="torch"), photo)
    plain = session.colorize([]).astype(int)
    assert np.array_equal(plain, load_model("default", backend="torch").colorize_arrays([photo])[0])
    x, y = w // 2, h // 2
    hinted = session.colorize([Point(x, y, "#d02020")]).astype(int)
    near = (slice(y - h // 40, y + h // 40), slice(x - w // 40, x + w // 40))
    redness = lambda rgb: (rgb[..., 0] - rgb[..., 2]).mean()  # noqa: E731
    assert redness(hinted[near]) > redness(plain[near]) + 15
    far = (slice(0, h // 6), slice(0, w // 6))
    assert np.abs(hinted[far] - plain[far]).mean() < 3


def test_cli_points_scribbles_suggest_and_levin(tmp_path, hints_run, capsys):
    from tomau.cli import main

    _, cfg, train = hints_run
    run = train(cfg, quiet=True)
    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(1).random((40, 56)) * 255).astype(np.uint8), "L").save(photo)
    (tmp_path / "p.csv").write_text("x,y,color\n5,6,#c0302a\n40,30,#2040c0\n")
    assert main(["hint", str(photo), "--points", str(tmp_path / "p.csv"), "-m", str(run), "-o", str(tmp_path / "out")]) == 0
    result = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    assert result.shape == (40, 56, 3)
    assert "2 points" in capsys.readouterr().err
    marks = np.zeros((40, 56, 4), np.uint8)
    marks[10:14, 10:30] = (200, 30, 30, 255)
    Image.fromarray(marks, "RGBA").save(tmp_path / "marks.png")
    assert main(["hint", str(photo), "--scribbles", str(tmp_path / "marks.png"), "-m", str(run), "-o", str(tmp_path / "s.png")]) == 0
    assert "80 hinted pixels" in capsys.readouterr().err
    assert main(["hint", str(photo), "--suggest", "20,10", "--points", str(tmp_path / "p.csv"), "-m", str(run)]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len([ln for ln in lines if ln.startswith("#")]) >= 3
    assert main(["hint", str(photo), "--scribbles", str(tmp_path / "marks.png"), "--method", "levin", "-o", str(tmp_path / "l.png")]) == 0
    for bad, says in ((["--points", str(tmp_path / "p.csv"), "--method", "levin", "-o", str(tmp_path / "x.png")], "levin takes"),
                      (["--suggest", "20", "-m", str(run)], "X,Y"),
                      (["--suggest", "99,10", "-m", str(run)], "outside"),
                      (["-o", str(tmp_path / "y.png")], "give the hints"),
                      (["--points", str(tmp_path / "p.csv")], "-o/--output is required")):
        assert main(["hint", str(photo), *bad]) == 2
        assert says in capsys.readouterr().err


def test_a_hints_model_exports_to_onnx_with_its_hint_inputs(hints_run, tmp_path):
    """A model with a trained hints decoder: inputs L, hint_ab, hint_mask; outputs ab, probs, bin_ab; onnxruntime agrees
    with PyTorch (one photo of the batch without hints: the shipped decoder's path in the same graph)."""
    pytest.importorskip("onnxruntime")
    from tomau.export import export_model, read_io

    _, cfg, train = hints_run
    run = train(cfg, quiet=True)
    exported, diff = export_model(str(run), tmp_path / "h.onnx")
    assert diff < 1e-3
    io = read_io(tmp_path / "h.onnx")
    assert io["hints"] and [t["name"] for t in io["inputs"]] == ["L", "hint_ab", "hint_mask"]
    assert [t["name"] for t in io["outputs"]] == ["ab", "probs", "bin_ab"]
