"""Diverse colourisation (Deshpande et al., CVPR 2017): a conditional VAE plus a mixture density network.

CVAE     encoder on the colour field ab (2 x 64 x 64) -> mu, logvar (``hidden`` = 64);
         conditional encoder on the grey image L -> skip features at 32, 16, 8 and 4 px;
         decoder from z (upsampled to 4 px) and those features -> ab, tanh.
MDN      from the conditional encoder's 32-px features (the paper uses VGG features of Zhang et al.'s
         network, which we do not have) -> ``nmix`` = 8 means over z and their mixture weights.
At inference each mixture mean decodes into one colouring; sorted by weight, they are the N choices.

``width`` scales every channel count (1.0 = the paper's: 128-256-512-1024) so a model fits 25 MB.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class CVAEConfig:
    hidden: int = 64  # size of the colour code z
    nmix: int = 8  # mixture components of the MDN
    width: float = 1.0  # channel multiplier; 1.0 = the paper's 128-256-512-1024
    image_size: int = 64  # the encoder's fully connected layer fixes the resolution
    use_mdn: bool = True  # False for stage 1 (the CVAE alone; z then comes from the prior N(0, I))

    @property
    def size_multiple(self) -> int:
        return self.image_size

    def channels(self) -> list[int]:
        return [max(8, round(c * self.width)) for c in (128, 256, 512, 1024)]

    def validate(self) -> None:
        if self.image_size != 64:
            raise ValueError("Deshpande et al.'s CVAE works at 64x64 (image_size must be 64)")
        if self.hidden < 1 or self.nmix < 1 or self.width <= 0:
            raise ValueError("hidden, nmix and width must be positive")


def _encoder(c_in: int, ch: list[int]) -> nn.ModuleList:
    """Four stride-2 conv + ReLU + BatchNorm blocks (5x5, 5x5, 5x5, 3x3): 64 -> 32 -> 16 -> 8 -> 4 px."""
    kernels = (5, 5, 5, 3)
    blocks, prev = [], c_in
    for c, k in zip(ch, kernels):
        blocks.append(nn.Sequential(nn.Conv2d(prev, c, k, stride=2, padding=k // 2), nn.ReLU(inplace=True), nn.BatchNorm2d(c)))
        prev = c
    return nn.ModuleList(blocks)


class CVAE(nn.Module):
    def __init__(self, cfg: CVAEConfig):
        super().__init__()
        ch = cfg.channels()
        self.hidden = cfg.hidden
        self.enc = _encoder(2, ch)
        self.enc_dropout = nn.Dropout(0.7)
        self.enc_fc = nn.Linear(4 * 4 * ch[3], 2 * cfg.hidden)
        self.cond = _encoder(1, ch)
        # decoder: z (4 px) + feat4 -> ch2 ; up + feat8 -> ch1 ; up + feat16 -> ch0 ; up + feat32 -> ch0/2 ; up -> 2
        self.dec = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cfg.hidden + ch[3], ch[2], 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(ch[2])),
            nn.Sequential(nn.Conv2d(2 * ch[2], ch[1], 5, padding=2), nn.ReLU(inplace=True), nn.BatchNorm2d(ch[1])),
            nn.Sequential(nn.Conv2d(2 * ch[1], ch[0], 5, padding=2), nn.ReLU(inplace=True), nn.BatchNorm2d(ch[0])),
            nn.Sequential(nn.Conv2d(2 * ch[0], ch[0] // 2, 5, padding=2), nn.ReLU(inplace=True), nn.BatchNorm2d(ch[0] // 2)),
        ])
        self.dec_out = nn.Conv2d(ch[0] // 2, 2, 5, padding=2)

    def encode(self, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ab (N, 2, 64, 64) -> mu, logvar (N, hidden)."""
        x = ab
        for block in self.enc:
            x = block(x)
        x = self.enc_fc(self.enc_dropout(x.flatten(1)))
        return x[:, : self.hidden], x[:, self.hidden :]

    def condition(self, l: torch.Tensor) -> list[torch.Tensor]:
        """L (N, 1, 64, 64) -> skip features at 32, 16, 8, 4 px."""
        feats, x = [], l
        for block in self.cond:
            x = block(x)
            feats.append(x)
        return feats

    def decode(self, z: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """z (N, hidden) + skip features -> ab (N, 2, 64, 64) in (-1, 1)."""
        f32, f16, f8, f4 = feats
        x = F.interpolate(z[:, :, None, None], scale_factor=4, mode="bilinear", align_corners=False)
        x = self.dec[0](torch.cat([x, f4], 1))
        for block, skip in zip(self.dec[1:], (f8, f16, f32)):
            x = block(torch.cat([F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), skip], 1))
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return torch.tanh(self.dec_out(x))


class MDN(nn.Module):
    """Features (N, C, 32, 32) -> mixture means (N, nmix, hidden) and weights (N, nmix) over z."""

    def __init__(self, cfg: CVAEConfig, feat_channels: int):
        super().__init__()
        self.hidden, self.nmix = cfg.hidden, cfg.nmix
        spec = [(384, 1), (320, 1), (288, 1), (256, 2), (128, 1), (96, 2), (64, 2)]  # the paper's stack
        layers, prev = [], feat_channels
        for c, stride in spec:
            c = max(8, round(c * cfg.width))
            layers += [nn.Conv2d(prev, c, 5, stride=stride, padding=2), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            prev = c
        self.body = nn.Sequential(*layers, nn.Dropout(0.7))
        self.fc = nn.Linear(4 * 4 * prev, (cfg.hidden + 1) * cfg.nmix)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.fc(self.body(feats).flatten(1))
        mu = out[:, : self.hidden * self.nmix].view(-1, self.nmix, self.hidden)
        pi = F.softmax(out[:, self.hidden * self.nmix :], dim=1)
        return mu, pi


class DiverseColorizer(nn.Module):
    """CVAE (+ MDN): ``forward(L)`` is the most likely colouring; ``sample(L, n)`` gives n different ones."""

    def __init__(self, config: CVAEConfig | None = None):
        super().__init__()
        self.config = cfg = config or CVAEConfig()
        cfg.validate()
        self.vae = CVAE(cfg)
        self.mdn = MDN(cfg, cfg.channels()[0]) if cfg.use_mdn else None

    @property
    def size_multiple(self) -> int:
        return self.config.size_multiple

    def mixture(self, l: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        feats = self.vae.condition(l)
        mu, pi = self.mdn(feats[0].detach())
        return mu, pi, feats

    def forward(self, l: torch.Tensor, ab: torch.Tensor | None = None):
        """Inference (``ab`` None): the most likely colouring (N, 2, 64, 64).

        Training (``ab`` given, so a distributed wrapper sees the whole computation):
        without the MDN -> (pred_ab, mu, logvar) with z drawn from q(z | ab);
        with the MDN -> (gmm_mu, gmm_pi, mu, logvar), the CVAE frozen (no gradient)."""
        if ab is None:
            return self.sample(l, 1)[:, 0]
        if self.mdn is None:
            mu, logvar = self.vae.encode(ab)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            return self.vae.decode(z, self.vae.condition(l)), mu, logvar
        with torch.no_grad():
            mu, logvar = self.vae.encode(ab)
        gmm_mu, gmm_pi, _ = self.mixture(l)
        return gmm_mu, gmm_pi, mu, logvar

    @torch.no_grad()
    def sample(self, l: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """L (N, 1, 64, 64) -> ab (N, n, 2, 64, 64). With the MDN: the n heaviest mixture means, heaviest
        first; without it: z drawn from the prior N(0, I) (the first sample is z = 0, the prior's mean)."""
        if l.shape[-2:] != (self.config.image_size, self.config.image_size):
            raise ValueError(f"input must be {self.config.image_size}x{self.config.image_size}, not {tuple(l.shape[-2:])}")
        if self.mdn is not None:
            if n > self.config.nmix:
                raise ValueError(f"this model has {self.config.nmix} mixture components; ask for at most {self.config.nmix} samples")
            mu, pi, feats = self.mixture(l)
            order = pi.argsort(dim=1, descending=True)[:, :n]
            z = torch.gather(mu, 1, order[..., None].expand(-1, -1, mu.shape[-1]))
        else:
            feats = self.vae.condition(l)
            z = torch.randn(l.shape[0], n, self.config.hidden, generator=generator).to(l)
            z[:, 0] = 0
        rep = [f.repeat_interleave(n, 0) for f in feats]
        return self.vae.decode(z.reshape(-1, z.shape[-1]), rep).view(l.shape[0], n, 2, *l.shape[-2:])


# ---- losses (Deshpande et al. 2017) -------------------------------------------------------------------------------
def vae_loss(mu, logvar, pred, gt, weights, kl_weight: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """KL (summed over the batch, as Deshpande et al.) * kl_weight + per-image sqrt of the prior-weighted squared error
    (batch mean). Returns (total, kl, recon)."""
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
    recon = ((gt - pred).pow(2) * weights).flatten(1).sum(1).sqrt().mean()
    return kl_weight * kl + recon, kl, recon


def mdn_loss(gmm_mu, gmm_pi, mu, logvar) -> torch.Tensor:
    """Deshpande et al.'s MDN loss: z ~ q(z | colour); distance to the nearest mixture mean (scaled by sqrt(50))
    minus the log weight of that component, averaged over the batch."""
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    dist = torch.sqrt(((z[:, None, :] - gmm_mu).pow(2) * 50).sum(-1) + 1e-12)  # (N, nmix)
    dist_min, idx = dist.min(dim=1)
    pi_min = gmm_pi.gather(1, idx[:, None]).squeeze(1)
    return (-torch.log(pi_min + 1e-30) + dist_min).mean()
