"""``python -m torch_act activations``: the registered activations as a table,
read from the registry (the README's table is this command's --markdown output;
tests/test_docs.py checks that they agree)."""
import torch_act


def markdown(builtin_only=True):
    rows = ["| name | formula | alpha (default) | saves for backward | PyTorch reference |",
            "|---|---|---|---|---|"]
    for name, s in torch_act.ACTIVATIONS.items():
        if builtin_only and not s.builtin:
            continue
        alpha = f"{s.default_alpha:g}" if s.has_alpha else "–"
        saves = "row output" if s.rowwise else s.saves.replace("_", " ")
        if s.mask:
            saves += "; 1 bit with save=\"mask\""
        rows.append(f"| `{name}` | {s.formula} | {alpha} | {saves} | `{s.reference}` |")
    return "\n".join(rows)


def add_arguments(p):
    p.add_argument("--markdown", action="store_true", help="a Markdown table of the built-ins (the README's)")


def main(args):
    if args.markdown:
        print(markdown())
        return 0
    for name, s in torch_act.ACTIVATIONS.items():
        alpha = f" alpha={s.default_alpha:g}" if s.has_alpha else ""
        kind = "built-in" if s.builtin else f"plugin {s.origin}"
        print(f"{name:14s} {s.formula}{alpha}  [{kind}; cpu: {', '.join(s.cpu_isas)}{'; cuda' if s.cuda else ''}]")
    return 0
