"""The seed document's network on torch_act's fused ops.

    python examples/net.py [--act1 relu] [--act2 sigmoid] [--steps 300] [--device cpu]

Same as `python -m torch_act demo`: prints the input and the output for
torch.randn(1, 2), checks output and gradients against eager PyTorch, then
trains a few hundred steps on a small 2-D task, printing the loss.
"""
import argparse
import sys

from torch_act import demo

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    demo.add_arguments(p)
    sys.exit(demo.main(p.parse_args()))
