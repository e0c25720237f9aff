"""CPU benchmark suite; same as ``python -m torch_act bench`` (see torch_act/bench.py).

    python benchmarks/bench_cpu.py --markdown benchmarks/RESULTS.md
"""
import argparse
import sys

from torch_act import bench

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=bench.__doc__.splitlines()[0])
    bench.add_arguments(p)
    sys.exit(bench.main(p.parse_args()))
