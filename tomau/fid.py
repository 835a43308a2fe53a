"""``tomau.fid.fid(a, b, weights=...)`` as the README documents it; the code lives in tomau.metrics.fid."""
from .metrics.fid import fid, folder_statistics, load_fid_inception, save_statistics  # noqa: F401
