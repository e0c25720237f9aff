"""torch_act command line: ``python -m torch_act <command> ...``

Commands:
  info        version, build (CPU ISA paths, CUDA arch list or "CPU only"), library path
  activations the registered activations (built-ins and loaded plugins)
  demo        the document's Net on torch_act's fused layers vs eager PyTorch, then a short training run
  bench       the CPU benchmark suite (benchmarks/RESULTS.md)
  plot        activation and derivative plots, computed by torch_act's kernels
  playground  train the Net on a 2-D toy dataset, draw its decision boundary
"""
import argparse
import importlib
import sys

# command -> module implementing add_arguments(parser) and main(args)
COMMANDS = {
    "info": ("torch_act.info", "show version, build and library information"),
    "activations": ("torch_act.table", "list the registered activations (--markdown: the README table)"),
    "demo": ("torch_act.demo", "run the document's example network on torch_act ops"),
    "bench": ("torch_act.bench", "run the CPU benchmarks"),
    "plot": ("torch_act.viz.plot", "plot activations and their derivatives"),
    "playground": ("torch_act.viz.playground", "train the example Net on a 2-D dataset"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m torch_act", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    argv = sys.argv[1:] if argv is None else list(argv)
    wanted = argv[0] if argv and not argv[0].startswith("-") else None
    modules = {}
    for name, (modname, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_)
        if name == wanted:  # import only the command being run
            modules[name] = importlib.import_module(modname)
            modules[name].add_arguments(p)
    args = parser.parse_args(argv)
    return modules[args.command].main(args) or 0


if __name__ == "__main__":
    sys.exit(main())
