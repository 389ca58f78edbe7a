"""The exact keep-first dedup on a Ray cluster (``pip install 'selfinstruct[ray]'``).

    >>> from selfinstruct.distributed import dedup_file_ray
    >>> result = dedup_file_ray("in.jsonl", "out.jsonl", rejects="rejects.jsonl")  # doctest: +SKIP

The same kept lines and rejects as ``selfinstruct dedup`` on one machine, bit for bit, for any
cluster size: an exact similarity self-join in Ray tasks (``selfinstruct.dedup.similar_pairs`` on
pairs of blocks), then keep-first resolved in input order over the pairs. See ``_dedup`` for the
stages. Ray is imported only when a function here runs.
"""

from ._dedup import RayDedupProgress, RayDedupResult, dedup_file_ray
from ._tasks import JoinStats

__all__ = ["JoinStats", "RayDedupProgress", "RayDedupResult", "dedup_file_ray"]
